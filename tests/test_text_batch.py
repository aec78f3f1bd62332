"""ArrayTexts writes many arrays together (a page per layout, or one array at a time when a layout
has few characters); each text must be what NumPy and the one-by-one functions write."""

from __future__ import annotations

import numpy as np
import pytest

from graphviz_bp.drawing import text as text_mod
from graphviz_bp.drawing.text import full_text, summary_lines

from .test_drawing_scale import _numpy_text, _written_together



def _mixed(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Arrays of the shapes a drawing shows, and rows NumPy wraps (150 entries, some with trailing
    zeros: their line ends are stripped), scaled so that the widths vary."""
    shapes = [(), (1,), (3,), (2, 2), (64,), (64, 1), (64, 8), (64, 64), (3, 40), (150,), (2, 300), (7, 9, 11)]
    arrays = []
    for k in range(count):
        shape = shapes[rng.integers(len(shapes))]
        a = rng.normal(size=shape) * 10.0 ** rng.integers(-5, 4)
        if k % 3 == 0:
            a = np.round(a, int(rng.integers(0, 4)))
        if k % 5 == 0 and a.size:
            a.flat[0] = -0.0
        arrays.append(a.astype(np.float32) if k % 4 == 3 else a)
    return arrays


@pytest.mark.parametrize("count", [2, 5, 19, 60, 300])
def test_arrays_written_together_read_as_numpy_writes_each(count):
    rng = np.random.default_rng(count)
    arrays = _mixed(rng, count)
    fulls, _ = _written_together(arrays)
    for a, text in zip(arrays, fulls):
        body = text if a.size <= 400 else text.split("\n", 1)[1]
        assert body == _numpy_text(a), (a.dtype, a.shape)
        assert text == full_text(a)


@pytest.mark.parametrize("layout", [0, 10**9])
def test_pages_and_arrays_put_in_place_one_by_one_write_the_same(monkeypatch, layout):
    # every layout on a page, or every array on its own
    monkeypatch.setattr(text_mod, "_LAYOUT", layout)
    rng = np.random.default_rng(7)
    arrays = _mixed(rng, 80)
    fulls, _ = _written_together(arrays)
    for a, text in zip(arrays, fulls):
        assert (text if a.size <= 400 else text.split("\n", 1)[1]) == _numpy_text(a), (a.dtype, a.shape)


def test_summaries_reduced_together_are_those_of_each():
    rng = np.random.default_rng(3)
    arrays = []
    for k in range(200):
        a = rng.normal(size=[(6,), (64, 1), (64, 8), (40, 40), (3, 3)][k % 5])
        a *= [1.0, 1e-200, 1e200, 1e-5, 0.0][k % 7 % 5]  # sums of squares that underflow or overflow, zeros
        if k % 13 == 0:
            a = np.abs(a) * np.where(rng.random(a.shape) < 0.5, -0.0, 0.0)  # zeros of both signs
        if k % 11 == 0:
            a.flat[-1] = [np.nan, np.inf, -np.inf][k % 3]
        arrays.append(a)
    with np.errstate(all="ignore"):
        _, lines = _written_together(arrays)
    for a, summary in zip(arrays, lines):
        assert summary == summary_lines(a)
        if np.isfinite(a).all() and a.any():
            with np.errstate(all="ignore"):
                m = np.abs(a).max()
                norm = m * np.linalg.norm(a / m)  # scaled: no underflow or overflow
            assert summary == [f"norm {norm:.3g},".replace("-", "−"),
                               f"range [{a.min():.3g}, {a.max():.3g}]".replace("-", "−")]


def test_an_array_with_infinite_entries_says_their_sign_and_the_range_of_the_rest():
    from graphviz_bp.drawing.text import summary_lines, full_text

    mask = np.zeros((4, 4))
    mask[np.triu_indices(4, 1)] = -np.inf  # an attention mask
    mask[0, 0] = -1.5
    assert summary_lines(mask) == ["6 −∞ of 16,", "the rest in [−1.5, 0]"]
    assert full_text(mask).splitlines()[0] == "[[-1.5 -inf -inf -inf]"
    mixed = np.array([np.nan, np.inf, -np.inf, np.inf, 2.0, 3.0])
    assert summary_lines(mixed) == ["1 −∞, 2 ∞, 1 nan of 6,", "the rest in [2, 3]"]
    assert summary_lines(np.full(9, np.nan)) == ["9 nan of 9"]


def test_vanishing_gradients_are_written_with_numpys_exponents_without_asking_numpy(monkeypatch):
    """A deep net's gradients vanish: every entry below 5e-5 is written with exponents, as NumPy
    writes them (its calls cost half a millisecond an array: a 1,000-layer net drawn whole spent most
    of its time there, and per node the drawing grew with the depth)."""
    def refused(a, edge):
        raise AssertionError(f"NumPy asked for a float64 array of {a.shape}")

    rng = np.random.default_rng(11)
    arrays = []
    for k in range(400):
        shape = [(1,), (5,), (3, 4), (64, 8), (64, 64), (150,), (2, 300), (7, 9, 11)][k % 8]
        a = rng.normal(size=shape) * 10.0 ** rng.uniform(-320, -5)  # subnormal numbers too
        a *= 10.0 ** rng.integers(-4, 4, size=shape) if k % 3 == 0 else 1.0  # exponents of two or three digits
        if k % 5 == 0:
            a.flat[0] = 0.0 if k % 10 else -0.0
        if k % 7 == 0 and np.max(np.abs(a)) > 0:
            a = np.round(a / np.max(np.abs(a)), 2) * np.max(np.abs(a))  # trailing zeros to drop
        arrays.append(a)
    want = [_numpy_text(a) for a in arrays]
    monkeypatch.setattr(text_mod, "_numpy_text", refused)
    for a, expected in zip(arrays, want):
        text = full_text(a)
        assert (text if a.size <= 400 else text.split("\n", 1)[1]) == expected, (a.shape, a.flat[:3])
    tiny = np.array([-3.4585e-321, 1e-310, 2.5e-7])  # subnormal: NumPy writes the few digits that identify it
    assert full_text(tiny) == "[-3.46e-321  1.00e-310  2.50e-007]" == np.array2string(tiny, precision=4)


def _vanishing(rng: np.random.Generator, count: int) -> list[np.ndarray]:
    """Gradients that vanish as a deep net's do: every entry below 5e-5, some below 2.2e-308
    (subnormal, down to multiples of 5e-324), some with few digits, rounded at a half or at a power
    of ten in their fifth digit, zeros of either sign, mixed with exponents of two and three digits."""
    shapes = [(1,), (5,), (3, 4), (64, 8), (64, 64), (150,), (2, 300), (7, 9, 11)]
    arrays = []
    for k in range(count):
        shape = shapes[k % len(shapes)]
        kind = k % 7
        a = rng.normal(size=shape) * 10.0 ** rng.uniform(-320, -4.4)
        if kind == 1:  # exponents of two and three digits in one array
            a *= 10.0 ** rng.integers(-4, 4, size=shape)
        elif kind == 2:  # fifth digits at a half, and 9.99995…: 1.0000 at the next power
            a = rng.choice([9.99995, 9.999949999, 1.00005, 1.23455, 4.99995, 2.5, 1.0], size=shape) \
                * 10.0 ** rng.integers(-300, -5, size=shape).astype(float)
        elif kind == 3:  # few digits: every entry the same fewer decimals
            a = np.round(rng.normal(size=shape), int(rng.integers(0, 3))) * 10.0 ** -rng.integers(6, 300)
        elif kind == 4:  # subnormal: small multiples of 5e-324 (their fewest identifying digits are few)
            a = np.maximum(rng.integers(0, 2**20, size=shape) >> rng.integers(0, 20, size=shape), 1) * 5e-324
        elif kind == 5:  # subnormal numbers beside normal ones with one decimal
            a = np.round(rng.normal(size=shape), 1) * 1e-9
            a.flat[:: 3] = rng.integers(1, 2**12, size=a.flat[:: 3].shape) * 5e-324
        a = a * rng.choice([-1.0, 1.0], size=shape) if kind != 6 else np.abs(a)
        if k % 5 == 0:
            a.flat[0] = 0.0 if k % 10 else -0.0
        if not a.any():
            a.flat[-1] = 1e-7
        arrays.append(a)
    return arrays


@pytest.mark.parametrize("layout", [None, 0, 10**9])
def test_vanishing_gradients_written_together_read_as_numpy_writes_each(monkeypatch, layout):
    """A drawing of a deep net has thousands of vanishing gradients: they are written all together
    from their digits (a few NumPy calls for all of them, not a formatting per array or per number),
    on pages or one by one, and each reads as NumPy writes it."""
    rng = np.random.default_rng(17 if layout is None else layout % 97)
    arrays = _vanishing(rng, 350)
    want = [_numpy_text(a) for a in arrays]

    def refused(*args, **kwargs):
        raise AssertionError("an array of vanishing entries was written by itself")

    for name in ("_numpy_text", "_exponents", "_subnormal_exponents", "_exponent_text"):
        monkeypatch.setattr(text_mod, name, refused)
    if layout is not None:
        monkeypatch.setattr(text_mod, "_LAYOUT", layout)
    fulls, lines = _written_together(arrays)
    for a, text, expected in zip(arrays, fulls, want):
        assert (text if a.size <= 400 else text.split("\n", 1)[1]) == expected, (a.shape, a.flat[:3])


def test_five_significant_digits_round_as_printf_rounds_the_exact_value():
    """The digits of a number written with exponents come from scaling it by powers of ten, a few
    ulp off: at a half, at 9.99995…, near the float range's ends, they are those printf writes."""
    rng = np.random.default_rng(5)
    exponents = rng.integers(-323, -5, size=4000).astype(float)
    x = np.concatenate([
        rng.choice([9.99995, 9.999949999999, 1.00005, 1.23455, 4.99995, 5.00005, 1.0, 9.9999], size=4000)
        * 10.0 ** exponents,
        np.nextafter(1.23455 * 10.0 ** exponents, 0), np.nextafter(1.23455 * 10.0 ** exponents, 1),
        rng.uniform(1, 10, size=4000) * 10.0 ** exponents, [5e-324, 1e-323, 2.2250738585072014e-308, 4.99999e-5]])
    x = x[(x > 2.0 ** -1055)]  # (below it, NumPy writes the fewer digits that identify the number)
    digits, power = text_mod._tiny_digits(x.copy())
    printf = [f"{v:.4e}" for v in x]
    assert [f"{d // 10000}.{d % 10000:04d}e{p:+03d}" for d, p in zip(digits.tolist(), power.tolist())] == printf


@pytest.mark.parametrize("scale", [1e-152, 1e-158, 1e-161, 1e-163, 1e-200, 1e-300])
def test_the_norm_of_a_vanishing_gradient_is_right_where_its_squares_are_subnormal(scale):
    """Entries near 1e-160 have squares at the bottom of the subnormal numbers (5e-324): their sum,
    not 0, was taken as it was, and a 64×64 gradient read "norm 3.85e−162" for 1.7e−161. Drawn
    alone and among others, the norm is that of the entries scaled first."""
    rng = np.random.default_rng(int(-np.log10(scale)))
    arrays = [rng.normal(size=shape) * scale for shape in [(64, 64), (64, 1), (8,), (3, 3)]] + [rng.normal(size=(5, 5))]
    _, together = _written_together(arrays)
    for a, lines in zip(arrays, together):
        m = np.abs(a).max()
        norm = m * np.linalg.norm(a / m)  # (no square underflows once scaled)
        for summary in (lines, summary_lines(a)):
            assert summary[0] == f"norm {norm:.3g},".replace("-", "−"), (a.shape, summary)


def test_negative_zero_is_written_0_in_summaries_alone_and_together():
    """A ReLU's gradient or a clipped value ends at −0.0: "range [−2.84, −0]" read as a sign that
    means something (a helper's sweep of real code); NumPy's own text in the tooltip keeps it."""
    arrays = [np.array([-2.84, -0.0, -1.0, -0.5, -0.25, -0.1]), np.array([-0.0, -1.0]), -np.abs(np.arange(30.0))]
    _, together = _written_together(arrays)
    for a, lines in zip(arrays, together):
        assert lines == summary_lines(a) and "−0" not in " ".join(lines).replace("−0.", "")
    assert together[0] == ["norm 3.06,", "range [−2.84, 0]"] and together[1] == ["[0, −1]"]
    assert full_text(arrays[1]) == "[-0. -1.]"
