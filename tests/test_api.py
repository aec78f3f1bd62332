"""The facade's smaller promises: Jupyter display only renders what is asked for."""

from __future__ import annotations

import numpy as np

import graphviz_bp as gb


def test_jupyter_bundle_runs_graphviz_only_when_the_svg_is_wanted(tmp_path, monkeypatch):
    g = gb.trace(lambda x: np.sum(x * x), x=np.array([1.0, 2.0]))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no dot: rendering would raise
    assert g._repr_mimebundle_(exclude=["image/svg+xml"]) == {"text/plain": repr(g.draw())}
    assert list(g.draw()._repr_mimebundle_(include=["text/plain"])) == ["text/plain"]


def test_the_cycle_collector_is_paused_for_a_trace_and_its_objects_stay_collectable():
    """While a trace runs the collector is off; after, what it made sits in the oldest generation
    (no scan of it all at the next allocation), is collected once dropped, and a program's own
    frozen objects stay frozen."""
    import gc
    import weakref

    def f(x):
        assert not gc.isenabled()
        return np.sum(np.tanh(x) * x)

    assert gc.isenabled()
    g = gb.trace(f, x=np.arange(4.0))
    assert gc.isenabled()
    node = g.node("x")
    young = {id(o) for o in gc.get_objects(0)} | {id(o) for o in gc.get_objects(1)}
    assert id(node) not in young and any(o is node for o in gc.get_objects(2))
    gone = weakref.ref(g.output.value)  # an array only the graph holds
    del g, node
    gc.collect()
    assert gone() is None  # the graph's cycles are collected as any others
    kept = [[] for _ in range(3)]  # a program that freezes its own objects (before a fork, say)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        gb.trace(f, x=np.arange(4.0))
        # its objects stay frozen (out of the generations the collector scans), and the trace's are not
        # frozen with them (the count may drop: a frozen object the trace lets go, a context's mapping)
        assert not any(o is k for o in gc.get_objects() for k in kept)
        assert gc.get_freeze_count() <= frozen and gc.isenabled()
    finally:
        gc.unfreeze()
    del kept
