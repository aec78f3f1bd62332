"""The gallery: every example verified numerically, and the committed renders up to date."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from graphviz_bp.gallery import EXAMPLES

from .problems import swish_by_hand

GALLERY = Path(__file__).resolve().parent.parent / "gallery"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gallery_test_{name}", GALLERY / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load("build")


@pytest.mark.parametrize("name", ["autoencoder", "autoencoder_right"])
def test_autoencoders_match_the_closed_form_path_by_path(name):
    module = _load(name)
    W, x = module.inputs()["W"], module.inputs()["x"]
    g = module.graph()
    r = W.T @ W @ x - x
    terms = [W @ np.outer(r, x), np.outer(W @ x, r)]
    np.testing.assert_allclose(g.grad("W"), terms[0] + terms[1], atol=1e-12)
    values = [c.value for c in g.contributions("W")]
    assert len(values) == 2
    assert any(np.allclose(values[0], t, atol=1e-12) and np.allclose(values[1], u, atol=1e-12)
               for t, u in (terms, terms[::-1]))


def test_swish_net_matches_the_hand_derived_backward():
    module = _load("swish_net")
    inputs = module.inputs()
    g = module.graph()
    for key, value in swish_by_hand(**inputs).items():
        np.testing.assert_allclose(g.grad(key), value, atol=1e-12, err_msg=key)
    assert [g.node(n).name for n in ("z", "h1", "z2")] == ["z", "h1", "z2"]


def test_shared_x_gradient_is_two_x_plus_one():
    module = _load("shared_x")
    x = module.inputs()["x"]
    g = module.graph()
    np.testing.assert_allclose(g.grad("x"), 2 * x + 1)
    assert len(g.out_edges("x")) == 3 and len(g.contributions("x")) == 3


def test_every_example_is_listed_and_shown_in_the_readme():
    on_disk = {p.stem for p in GALLERY.glob("*.py")} - {"build"}
    assert on_disk == set(EXAMPLES)
    readme = (GALLERY / "README.md").read_text(encoding="utf-8")
    for name in EXAMPLES:
        assert "![" in readme and f"]({name}.svg)" in readme and f"[interactive page]({name}.html)" in readme


def test_committed_gallery_is_up_to_date(dot_executable, capsys):
    status = build.main(["--check"])
    assert status == 0, capsys.readouterr().err


def test_the_check_compares_dot_bytes_and_svg_pdf_provenance(tmp_path, monkeypatch, capsys):
    """SVG and PDF bytes change with the Graphviz version, so the check does not compare them; it
    catches a changed DOT, an SVG or PDF edited or broken after rendering, or one left from an
    older DOT."""
    import shutil

    copy = tmp_path / "gallery"
    shutil.copytree(GALLERY, copy)
    monkeypatch.setattr(build, "GALLERY", copy)
    assert build.main(["--check", "rnn"]) == 0
    svg = (copy / "rnn.svg").read_bytes()
    (copy / "rnn.svg").write_bytes(svg.replace(b"<svg ", b"<svg  ", 1))  # still valid XML
    (copy / "rnn.pdf").write_bytes(b"%PDF-1.5 truncated")
    page = (copy / "rnn.html").read_bytes()
    (copy / "rnn.html").write_bytes(page[:len(page) // 2])  # a page cut short
    assert build.main(["--check", "rnn"]) == 1
    err = capsys.readouterr().err
    assert "rnn.svg" in err and "rnn.pdf" in err and "rnn.html" in err and "rnn.dot" not in err
    for fmt in ("svg", "pdf", "html"):
        shutil.copy(GALLERY / f"rnn.{fmt}", copy / f"rnn.{fmt}")
    (copy / "rnn.dot").write_text((GALLERY / "rnn.dot").read_text().replace("W", "V", 1))
    assert build.main(["--check", "rnn"]) == 1
    assert "rnn.dot, rnn.svg, rnn.pdf, rnn.html" in capsys.readouterr().err


def test_committed_files_do_not_depend_on_the_machine():
    root = str(GALLERY.parent)
    for path in GALLERY.iterdir():
        if path.suffix in (".dot", ".svg", ".md", ".html"):
            assert root not in path.read_text(encoding="utf-8"), path.name


def test_gplvm_matches_the_closed_form_and_has_two_paths_through_K():
    module = _load("gplvm")
    X, Y = module.inputs()["X"], module.inputs()["Y"]
    g = module.graph()
    N, D = Y.shape
    Kinv = np.linalg.inv(X @ X.T + 0.5 * np.eye(N))
    np.testing.assert_allclose(g.grad("X"), (D * Kinv - Kinv @ Y @ Y.T @ Kinv) @ X, atol=1e-10)
    np.testing.assert_allclose(g.grad("K"), 0.5 * (D * Kinv - Kinv @ Y @ Y.T @ Kinv), atol=1e-10)
    contribs = g.contributions("X")
    assert len(g.out_edges("X")) == 2 and len(contribs) == 4  # (X, Xᵀ) × (log det, solve)
    np.testing.assert_allclose(sum(c.value for c in contribs), g.grad("X"), atol=1e-12)


def _rnn_loss(inputs):
    """The gallery's RNN loss written for autograd, as a function of W and U."""
    import autograd.numpy as anp

    def loss(W, U):
        h = inputs["h0"]
        for x in inputs["X"]:
            h = anp.tanh(W @ h + U @ x)
        return 0.5 * anp.sum(h ** 2)
    return loss


def test_rnn_shares_W_across_three_steps_and_matches_autograd():
    import autograd

    module = _load("rnn")
    inputs = module.inputs()
    g = module.graph()
    assert len(g.out_edges("W")) == 3 and len(g.out_edges("U")) == 3

    for i, key in enumerate(("W", "U")):
        np.testing.assert_allclose(g.grad(key), autograd.grad(_rnn_loss(inputs), i)(inputs["W"], inputs["U"]),
                                   atol=1e-12)
    np.testing.assert_allclose(sum(e.message for e in g.out_edges("W")), g.grad("W"), atol=1e-14)


def test_softmax_ce_gradient_is_p_minus_onehot_over_n():
    module = _load("softmax_ce")
    inputs = module.inputs()
    X, W, b, y = (inputs[k] for k in ("X", "W", "b", "y"))
    g = module.graph()
    logits = X @ W + b
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    expected = (p - np.eye(3)[y]) / len(y)
    np.testing.assert_allclose(g.grad("logits"), expected, atol=1e-12)
    np.testing.assert_allclose(g.grad("W"), X.T @ expected, atol=1e-12)
    np.testing.assert_allclose(g.grad("b"), expected.sum(axis=0), atol=1e-12)
    (gather,) = [e for e in g.out_edges("y")]
    assert gather.message is None and gather.dst.params["text"] == "[[0, 1, 2, 3], y]"


def test_deep_mlp_matches_backprop_by_hand_and_finite_differences_and_is_drawn_folded():
    import pydot

    import graphviz_bp as gb

    from .dotgraph import clusters, frame_title

    module = _load("deep_mlp")
    inputs = module.inputs()
    g = module.graph()
    depth = module.DEPTH
    hs = [inputs["X"]]
    for k in range(depth):
        hs.append(np.tanh(inputs[f"W{k}"] @ hs[-1] + inputs[f"b{k}"]))
    dh = hs[-1]
    norms = []
    for k in reversed(range(depth)):
        norms.append(np.linalg.norm(dh))
        dz = dh * (1 - hs[k + 1] ** 2)
        np.testing.assert_allclose(g.grad(f"W{k}"), dz @ hs[k].T, rtol=1e-10, atol=1e-16)
        np.testing.assert_allclose(g.grad(f"b{k}"), dz.sum(axis=1, keepdims=True), rtol=1e-10, atol=1e-16)
        dh = inputs[f"W{k}"].T @ dz
    assert norms[-1] / norms[0] < 1e-3  # the docstring: the first layer's message is about 10⁻⁴ of the last's
    few = {k: inputs[k] for k in ("X", "W0", "b0", "W49")}
    rest = {k: v for k, v in inputs.items() if k not in few}
    # the first layer's gradients are ~10⁻⁴ of the loss's scale: central differences (step 10⁻⁶)
    # carry a relative error of about 10⁻⁵ there, so the check's tolerance is 10⁻⁴
    result = gb.check(lambda X, W0, b0, W49: module.loss(X, W0=W0, b0=b0, W49=W49, **rest), few, rtol=1e-4)
    assert result.passed, [(c.name, c.error) for c in result.inputs]
    (graph,) = pydot.graph_from_dot_data((GALLERY / "deep_mlp.dot").read_text(encoding="utf-8"))
    (frame,) = [c for c in clusters(graph) if "folded" in str(c.get("class"))]
    assert "× 50" in frame_title(frame)


def test_long_rnn_matches_autograd_and_its_steps_are_drawn_once():
    import autograd
    import pydot

    from .dotgraph import clusters, frame_title

    module = _load("long_rnn")
    inputs = module.inputs()
    g = module.graph()
    assert len(g.out_edges("W")) == module.STEPS

    for i, key in enumerate(("W", "U")):
        np.testing.assert_allclose(g.grad(key), autograd.grad(_rnn_loss(inputs), i)(inputs["W"], inputs["U"]),
                                   rtol=1e-10)
    steps = [n for n in g.nodes if n.kind == "op" and n.op.name == "tanh"]
    assert np.linalg.norm(steps[0].adjoint) < 1e-10 * np.linalg.norm(steps[-1].adjoint)  # vanishing
    (graph,) = pydot.graph_from_dot_data((GALLERY / "long_rnn.dot").read_text(encoding="utf-8"))
    (frame,) = [c for c in clusters(graph) if "folded" in str(c.get("class"))]
    assert "× 100" in frame_title(frame)
    w = next(n for n in graph.get_nodes() if n.get_name() == g.node("W").id)
    assert "Σ of 100 messages" in str(w.get("label"))
