"""Shared fixtures. Tests that need Graphviz's ``dot`` or Chromium fail (never skip) when it is missing."""

from __future__ import annotations

import shutil

import pytest

from .browser import browser, chromium  # noqa: F401 - fixtures for the tests that drive headless Chromium


@pytest.fixture(scope="session")
def dot_executable() -> str:
    path = shutil.which("dot")
    if path is None:
        pytest.fail("Graphviz's 'dot' is not installed: run `make test` (it installs graphviz), "
                    "or `apt-get install graphviz fonts-dejavu-core`", pytrace=False)
    return path
