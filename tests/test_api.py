"""The facade's smaller promises: Jupyter display only renders what is asked for."""

from __future__ import annotations

import numpy as np

import graphviz_bp as gb


def test_jupyter_bundle_runs_graphviz_only_when_the_svg_is_wanted(tmp_path, monkeypatch):
    g = gb.trace(lambda x: np.sum(x * x), x=np.array([1.0, 2.0]))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dot: rendering would raise
    assert g._repr_mimebundle_(exclude=["image/svg+xml"]) == {"text/plain": repr(g.draw())}
    assert list(g.draw()._repr_mimebundle_(include=["text/plain"])) == ["text/plain"]
