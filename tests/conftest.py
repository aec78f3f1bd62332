"""Shared fixtures. Tests that need Graphviz's ``dot`` fail (never skip) when it is missing."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def dot_executable() -> str:
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz's 'dot' is not installed: run `make test` (it installs graphviz), "
                    "or `apt-get install graphviz fonts-dejavu-core`", pytrace=False)
    return path
