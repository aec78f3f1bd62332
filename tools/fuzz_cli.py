#!/usr/bin/env python3
"""Fuzz the ``graphviz-bp`` command line, in-process, and check its contract on every line.

Each generated command line is run through click's ``CliRunner`` inside a scratch directory and
must:

* exit with 0, 1 or 2, without an exception escaping;
* on exit 1 or 2, print exactly one line on stderr, starting ``graphviz-bp: error: ``
  (the only exception: ``check`` exiting 1 with its table showing a ``NO`` row, and nothing on
  stderr);
* on exit 0, print only ``wrote ...`` and ``graphviz-bp: warning: ...`` lines on stderr;
* never print ``internal error`` or a traceback, never leave a file behind when it fails;
* run no code: an audit hook (``sys.addaudithook``) flags ``exec``/``compile`` called from
  anything but the standard library, ``os.system``/``os.exec*``/``os.spawn*``/``os.posix_spawn``/
  fork, any subprocess but Graphviz's ``dot``, ``ctypes.dlopen``, imports of risky or
  non-whitelisted modules, opening a canary path and writing outside the scratch directory; and
  the attack payloads, if ever run, would create canary files or set a canary environment
  variable, which are looked for after every line.

Generators (each line is drawn from one, reproducibly from ``--seed`` and the line's index):
``valid`` (the expression grammar, consistent or inconsistent shapes, all options), ``soup``
(token soup, in the expression and in argv), ``attack`` (code-injection payloads, huge numbers,
deep nesting, hostile names/shapes/files), ``mutate`` (character and byte mutations of valid lines,
invalid UTF-8 decoded with surrogateescape as Python does for argv), ``minus`` (leading minus and
``--`` placements), ``unicode`` (look-alikes, bidi marks, zero-width characters), ``files``
(``-i NAME=@FILE`` with missing, corrupt, crafted and decompression-bomb .npy/.npz files, and
``FILE.py:FUNC`` targets) and ``options`` (every option with good and bad values, including the
upcoming ``--timeout`` and ``--memory-limit``; ``gallery``).

Usage::

    .venv/bin/python tools/fuzz_cli.py --count 1000000 --jobs 2 --report fuzz-report.json
    .venv/bin/python tools/fuzz_cli.py --seed 1 --replay 12345     # re-run one line, verbosely

``--debug`` is never generated (it shows tracebacks by design). The only Python file that is run is
``model.py``, a harmless fixture written into the scratch directory (a plain NumPy loss).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shlex
import signal
import sys
import sysconfig
import tempfile
import time
import traceback
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

# Nothing heavy is imported at module level: the script sets the environment of its workers
# (one BLAS thread) before NumPy is loaded.

CANARY = "gbpfuzzcanary"
CANARY_FILES = tuple(f"{CANARY}_{k}" for k in ("sys", "open", "exec", "sub", "imp", "misc"))
CANARY_ENV = "GBPFUZZCANARY"
MODEL_FILE = "model.py"
PROG = "graphviz-bp"
GENERATORS = ("valid", "soup", "attack", "mutate", "minus", "unicode", "files", "options")
WEIGHTS = (30, 10, 16, 16, 7, 8, 6, 7)
DEFAULT_DOT_FRACTION = 0.005  # of all lines: the share of valid lines that really run dot


# ==================================================================================================
# generation

NAMES = ("x", "W", "b", "y", "h", "A", "B", "v", "z", "w1", "W2", "theta", "X", "U", "V", "a", "c")
ODD_NAMES = ("seed", "fn", "self", "output", "inputs", "values", "target", "label", "name", "np",
             "numpy", "sum", "exp", "T", "_", "__x", "__class__", "x_", "e", "inf", "nan", "True",
             "None", "print", "os", "sys", "main", "kwargs", "args", "g", "trace", "text", "exc",
             "value", "items", "rtol", "eps", "data", "format", "fmt", "detail", "theme", "graph",
             "node", "linalg", "self_", "cls", "lambda_", "Σ", "é", "x" * 300)
UNARY = ("exp", "log", "tanh", "sqrt", "abs", "sigmoid", "relu", "swish", "softmax")
REDUCE = ("sum", "mean", "norm")
EXPRS_OK = ("0.5*sum((W.T@W@x - x)**2)", "sum(tanh(W@x + b))", "mean(relu(X@W))", "sum(x*x)",
            "-mean(log(softmax(x)))", "norm(W@x)", "sum(sigmoid(x) * x)", "np.sum(np.exp(x))",
            "np.linalg.norm(x - y)", "sum(maximum(x, 0))", "mean(swish(W@x)) + sum(b**2)")


def _num(rng: random.Random) -> str:
    return rng.choice(("2", "0.5", "1", "3", "1e-3", "2.0", "10", "0.1", "1.5", "4", ".5", "3.",
                       "1_000", "0", "1e2", "7"))


def _dims(rng: random.Random, ndim: int) -> tuple[int, ...]:
    hi = 40 if rng.random() < 0.05 else 5
    return tuple(rng.randint(1, hi) for _ in range(ndim))


def _shape_text(shape: tuple[int, ...], rng: random.Random) -> str:
    if not shape:
        return "scalar"
    return "x".join(map(str, shape))


class _ExprGen:
    """Random well-typed expressions: every sub-expression is built for a wanted shape."""

    def __init__(self, rng: random.Random, names: tuple[str, ...] = NAMES) -> None:
        self.rng = rng
        self.names = list(names)
        self.env: dict[str, tuple[int, ...]] = {}

    def fn(self, name: str) -> str:
        r = self.rng.random()
        if r < 0.75:
            return name
        if name == "norm" and r < 0.9:
            return "np.linalg.norm"
        return ("np." if r < 0.95 else "numpy.") + name

    def leaf(self, shape: tuple[int, ...]) -> str:
        rng = self.rng
        if not shape and rng.random() < 0.35:
            return _num(rng)
        same = [n for n, s in self.env.items() if s == shape]
        if same and rng.random() < 0.6:
            return rng.choice(same)
        free = [n for n in self.names if n not in self.env]
        name = rng.choice(free) if free else f"v{len(self.env)}"
        self.env[name] = shape
        return name

    def gen(self, shape: tuple[int, ...], depth: int) -> str:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.22:
            return self.leaf(shape)
        d = depth - 1
        r = rng.random()
        if r < 0.22:
            return f"{self.fn(rng.choice(UNARY))}({self.gen(shape, d)})"
        if r < 0.30:
            return f"-{self.wrap(self.gen(shape, d))}"
        if r < 0.50:
            op = rng.choice(("+", "-", "*", "/", " + ", " - ", " * "))
            a, b = self.gen(shape, d), self.gen(shape if rng.random() < 0.7 else (), d)
            if rng.random() < 0.5:
                a, b = b, a
            return f"{self.wrap(a)}{op}{self.wrap(b)}"
        if r < 0.56:
            if rng.random() < 0.8:
                return f"{self.wrap(self.gen(shape, d))}**{rng.choice(('2', '3', '0.5', '2.0', '-1', '0'))}"
            return f"{_num(rng)}**{self.wrap(self.gen(shape, d))}"
        if r < 0.62:
            other = shape if rng.random() < 0.7 else ()
            return f"{self.fn('maximum')}({self.gen(shape, d)}, {self.gen(other, d) if rng.random() < 0.7 else '0'})"
        if r < 0.78:  # matmul producing `shape`
            k = rng.randint(1, 5)
            if len(shape) == 0:
                return f"{self.wrap(self.gen((k,), d))}@{self.wrap(self.gen((k,), d))}"
            if len(shape) == 1:
                if rng.random() < 0.5:
                    return f"{self.wrap(self.gen((shape[0], k), d))}@{self.wrap(self.gen((k,), d))}"
                return f"{self.wrap(self.gen((k,), d))}@{self.wrap(self.gen((k, shape[0]), d))}"
            if len(shape) == 2:
                return f"{self.wrap(self.gen((shape[0], k), d))}@{self.wrap(self.gen((k, shape[1]), d))}"
            return self.leaf(shape)
        if r < 0.85 and len(shape) == 2:
            inner = self.gen((shape[1], shape[0]), d)
            if rng.random() < 0.6:
                return f"{self.wrap(inner)}.T"
            return f"{self.fn('transpose')}({inner})"
        if r < 0.93:  # a reduction producing `shape`
            f = self.fn(rng.choice(REDUCE))
            if not shape:
                src = rng.choice([(), (rng.randint(1, 5),), _dims(rng, 2)])
                if src and rng.random() < 0.2:
                    axes = "(0, 1)" if len(src) == 2 else "0"
                    return f"{f}({self.gen(src, d)}, axis={axes})" if len(src) == 2 or rng.random() < 0.5 \
                        else f"{f}({self.gen(src, d)})"
                return f"{f}({self.gen(src, d)})"
            if len(shape) == 1:
                k = rng.randint(1, 5)
                if rng.random() < 0.5:
                    return f"{f}({self.gen((shape[0], k), d)}, axis={rng.choice(('1', '-1'))})"
                return f"{f}({self.gen((k, shape[0]), d)}, axis={rng.choice(('0', '-2'))})"
            return self.leaf(shape)
        if shape:
            ax = f", axis={rng.randrange(-len(shape), len(shape))}" if rng.random() < 0.5 else ""
            return f"{self.fn('softmax')}({self.gen(shape, d)}{ax})"
        return f"({self.gen(shape, d)})"

    @staticmethod
    def wrap(text: str) -> str:
        if re.fullmatch(r"[\w.]+(\(.*\))?", text) and text.count("(") <= 1:
            return text
        return f"({text})"


def _valid_parts(rng: random.Random) -> tuple[str, list[str], dict[str, tuple[int, ...]]]:
    """An expression and its -i items (consistent shapes, or deliberately not)."""
    names = NAMES if rng.random() < 0.97 else tuple(rng.sample(ODD_NAMES, 6)) + NAMES
    g = _ExprGen(rng, names)
    top: tuple[int, ...] = () if rng.random() < 0.9 else _dims(rng, rng.randint(1, 2))
    expr = g.gen(top, rng.choice((1, 2, 2, 3, 3, 4, 5)))
    if not g.env:  # a constant expression: add an input
        name = g.leaf((3,))
        expr = f"sum({name}) + {expr}"
    env = dict(g.env)
    if rng.random() < 0.25:  # inconsistent on purpose
        kind = rng.random()
        victim = rng.choice(sorted(env))
        if kind < 0.5:
            env[victim] = _dims(rng, rng.randint(0, 3))
        elif kind < 0.7:
            del env[victim]
        elif kind < 0.85:
            env[rng.choice(NAMES)] = _dims(rng, 1)
        else:
            env[victim + "_"] = env[victim]
    items = []
    for name, shape in env.items():
        items += ["-i", f"{name}={_shape_text(shape, rng)}"]
        if rng.random() < 0.01:
            items += ["-i", f"{name}={_shape_text(shape, rng)}"]  # given twice
    pairs = [items[i:i + 2] for i in range(0, len(items), 2)]
    rng.shuffle(pairs)
    items = [a for p in pairs for a in p]
    if rng.random() < 0.1:
        items = [f"--input={v}" for v in items[1::2]]
    return expr, items, env


def _seed_value(rng: random.Random) -> str:
    return rng.choice(("0", "1", "42", "7", "-1", "4294967296", "18446744073709551616",
                       "99999999999999999999999999", "-99999999999999999999", "1e3", "0x10", "", " 3",
                       "3.0", "٣", "+5"))


def _new_options(rng: random.Random) -> list[str]:
    """The options being added: --timeout SECONDS and --memory-limit SIZE."""
    out: list[str] = []
    if rng.random() < 0.5:
        out += ["--timeout", rng.choice(("5", "30", "0.5", "0", "-1", "1e9", "nan", "inf", "abc", "10s",
                                         "", "1e400", "0.001", "2**10", "60"))]
    if rng.random() < 0.5:
        out += ["--memory-limit", rng.choice(("512M", "2G", "1G", "0", "-5M", "1T", "100", "12Q", "m",
                                              "9999999999999999G", "", "1.5G", "64K", "2g", "1 G",
                                              "4096", "1e3M", "1K", "8", "100K", "1KiB", "2GB", "0.5M"))]
    return out


def _drawing_options(rng: random.Random, env: dict[str, Any]) -> list[str]:
    out: list[str] = []
    if rng.random() < 0.3:
        out += ["--direction", rng.choice(("TB", "LR", "BT", "RL", "TB", "LR", "tb", "XX", "", "left-right",
                                           "top-bottom", "right-left", "LEFT-RIGHT"))]
    if rng.random() < 0.4:
        out += ["--detail", rng.choice(("structure", "shapes", "values", "structure", "all", ""))]
    if rng.random() < 0.3:
        out += ["--theme", rng.choice(("color", "grey", "grey", "gray", "colour"))]
    if rng.random() < 0.2:
        names = sorted(env) or ["x"]
        for _ in range(rng.randint(1, 2)):
            out += ["--data", rng.choice(names) if rng.random() < 0.85 else rng.choice(("nope", "", "np", "W "))]
    if rng.random() < 0.3:
        out += ["--seed", _seed_value(rng) if rng.random() < 0.3 else str(rng.randint(0, 1000))]
    return out


def _check_options(rng: random.Random) -> list[str]:
    out: list[str] = []
    if rng.random() < 0.3:
        out += ["--rtol", rng.choice(("1e-6", "1e-3", "0.1", "0", "-1", "nan", "inf", "1e400", "1e-400", "x"))]
    if rng.random() < 0.3:
        out += ["--eps", rng.choice(("1e-6", "1e-4", "1e-3", "0", "-1e-6", "nan", "inf", "1e300", "1e-320"))]
    if rng.random() < 0.5:
        out += ["--max-coords", rng.choice(("1", "5", "50", "2000", "0", "-3", "1000000000000",
                                            "99999999999999999999999", "2.5"))]
    if rng.random() < 0.2:
        out += ["--seed", _seed_value(rng)]
    return out


def _interleave(rng: random.Random, head: list[str], positional: str, options: list[str]) -> list[str]:
    """``head`` then the options (kept in their pairs) with ``positional`` somewhere among them."""
    groups: list[list[str]] = []
    i = 0
    while i < len(options):
        if options[i].startswith("-") and i + 1 < len(options) and options[i] not in ("--markdown", "--all") \
                and "=" not in options[i]:
            groups.append(options[i:i + 2])
            i += 2
        else:
            groups.append([options[i]])
            i += 1
    rng.shuffle(groups)
    groups.insert(rng.randint(0, len(groups)) if rng.random() < 0.7 else 0, [positional])
    return head + [a for g in groups for a in g]


@dataclass
class Case:
    index: int
    gen: str
    args: list[str]
    dot: bool = False  # meant to run Graphviz


def gen_valid(rng: random.Random, dot_share: float = 0.0, base: bool = False) -> tuple[list[str], bool]:
    expr, items, env = _valid_parts(rng)
    r = rng.random()
    dot = rng.random() < dot_share
    extra = _new_options(rng) if rng.random() < 0.08 and not base else []
    if r < 0.62 or dot:
        opts = items + _drawing_options(rng, env) + extra
        if dot:
            fmt = rng.choice(("svg", "svg", "svg", "png", "pdf"))
            out = ["-o", "-"] + (["-f", fmt] if fmt != "svg" or rng.random() < 0.5 else []) \
                if rng.random() < 0.5 else ["-o", f"out.{fmt}"]
        elif rng.random() < 0.97:  # files are written with fsync: slow, so rarely
            out = ["-o", "-", "-f", "dot"] if rng.random() < 0.8 else ["-f", "dot", "--output=-"]
        else:
            out = ["-o", rng.choice(("out.dot", "o.DOT", "sub/out.dot", "fig.dot", "a b.dot"))]
            if rng.random() < 0.15:
                out += ["--markdown"] + (["--alt", rng.choice(("Two [paths]", "x", "", "a\\b", "!["))]
                                         if rng.random() < 0.5 else [])
        return _interleave(rng, ["render"], expr, opts + out), dot
    opts = items + _check_options(rng) + extra
    return _interleave(rng, ["check"], expr, opts), False


_SOUP_TOKENS = (
    NAMES[:8] + UNARY + REDUCE + ("maximum", "transpose", "np", "np.", "numpy.", "np.linalg.", ".T", "T",
                                  "(", ")", "(", ")", "[", "]", "{", "}", ",", ":", ";", "+", "-", "*", "/",
                                  "**", "@", "//", "%", "~", "^", "&", "|", "<<", "==", "<", "=", ":=",
                                  "axis=", "axis", "-1", "0", "1", "2.5", "1e308", "1e999", "0x1f", "1j",
                                  "0o7", "0b1", "inf", "nan", "10**400", "lambda", "for", "in", "if",
                                  "else", "not", "and", "or", "import", "yield", "await", "async", "'s'",
                                  '"s"', "b''", "f'{x}'", "...", "\\", "#", "\n", "\t", " ", "  ", "None",
                                  "True", "__", "_", "x.", ".x", "@=", "+=", "*x", "**x", "!", "?", "$",
                                  "`", "'", '"', "\x00", "\r", "\x1b[31m"))
_ARGV_TOKENS = ("render", "check", "gallery", "-i", "-o", "-f", "--seed", "--rtol", "--eps", "--max-coords",
                "--direction", "--detail", "--theme", "--data", "--markdown", "--alt", "--all", "--out",
                "--format", "--input", "--output", "--timeout", "--memory-limit", "--help", "-h", "-V",
                "--version", "--", "-", "=", "x=3", "W=3x5", "x=scalar", "svg", "dot", "pdf", "png", "TB",
                "LR", "out.dot", "sub", "model.py:loss", "sum(x)", "-x", "--seed=3", "-i=x=3", "-ox.dot",
                "-fdot", "-ix=3", "--render", "render=", "-o-", "---", "--=", "-iox", "--detail=values",
                "-", "", " ", "@", "x=@w.npy")


def gen_soup(rng: random.Random) -> list[str]:
    toks = [rng.choice(_SOUP_TOKENS) for _ in range(rng.randint(1, 14))]
    expr = "".join(t + (" " if rng.random() < 0.3 else "") for t in toks)
    r = rng.random()
    if r < 0.6:
        cmd = rng.choice(("render", "check"))
        items = ["-i", rng.choice(("x=3", "W=3x5", "x=scalar", "y=2x2"))] if rng.random() < 0.8 else []
        if rng.random() < 0.3:
            items += ["-i", f"{rng.choice(NAMES)}={rng.choice(('3', '3x5', 'scalar', expr))}"]
        out = ["-o", "-", "-f", "dot"] if cmd == "render" else []
        return _interleave(rng, [cmd], expr, items + out)
    if r < 0.8:  # argv soup, starting with a command
        return [rng.choice(("render", "check", "gallery"))] + \
            [rng.choice(_ARGV_TOKENS + (expr,)) for _ in range(rng.randint(0, 10))]
    return [rng.choice(_ARGV_TOKENS + (expr,)) for _ in range(rng.randint(0, 8))]


def _attacks() -> tuple[str, ...]:
    c = CANARY_FILES
    return (
        f"__import__('os').system('touch {c[0]}')",
        f"__import__(\"os\").system(\"touch {c[0]}\")",
        f"open('{c[1]}', 'w')",
        f"__import__('os').environ.__setitem__('{CANARY_ENV}', '1')",
        f"__import__('os').putenv('{CANARY_ENV}', '1')",
        f"np.os.environ.update({CANARY_ENV}='1')",
        f"[__import__('os').environ.setdefault('{CANARY_ENV}', '1') for _ in 'x']",
        f"sum(x) if __import__('os').environ.setdefault('{CANARY_ENV}', '1') else 0",
        f"__builtins__.__import__('subprocess').call(['touch', '{c[3]}'])",
        f"__import__('pty').spawn(['touch', '{c[3]}'])",
        f"__import__('ctypes').CDLL(None).system(b'touch {c[5]}')",
        f"exec(\"open('{c[2]}','w')\")",
        f"eval(\"open('{c[2]}','w')\")",
        f"eval('__import__(\"os\").system(\"touch {c[0]}\")')",
        "().__class__.__bases__[0].__subclasses__()",
        "().__class__.__base__.__subclasses__()",
        "x.__class__.__mro__[-1].__subclasses__()",
        "sum.__globals__['__builtins__']",
        "x.T.__class__",
        "x.T.T.T.__dict__",
        "np.lib.npyio.os.system('id')",
        f"np.os.system('touch {c[0]}')",
        "np.linalg.__builtins__",
        "np.linalg.inv(x)",
        "np.linalg.norm.__globals__",
        "numpy.linalg.norm(x)",
        "np.sum.__call__(x)",
        "globals()",
        "locals()",
        "vars()",
        "dir()",
        "__builtins__",
        "__import__",
        "(lambda: 1)()",
        "lambda x: x",
        f"(lambda: __import__('os').system('touch {c[0]}'))()",
        "[x for x in (1,)]",
        f"[__import__('os').system('touch {c[0]}') for _ in (1,)]",
        "{x: 1 for x in ()}",
        "(y for y in ())",
        "f'{x}'",
        f"f'{{__import__(\"os\").system(\"touch {c[0]}\")}}'",
        "(y := x)",
        "(x := 1) + x",
        "@dec\ndef f(): pass",
        "def f(): pass",
        "import os",
        "from os import system",
        "x if x else x",
        "x[0]",
        "x[::-1]",
        "x[np.arange(3)]",
        "getattr(x, 'T')",
        "sum(*x)",
        "sum(**{'axis': 0})",
        "sum(x, axis=__import__('os'))",
        "sum(x, axis=(0, __import__('os')))",
        "sum(x, axis=9**9**9)",
        "sum(x, axis=-999)",
        "sum(x, axis=63)",
        "sum(x, axis=(0, 0))",
        "sum(x, axis=())",
        "sum(x, keepdims=True)",
        "sum(x, out=x)",
        "sum(x, dtype='object')",
        "softmax(x, axis=5)",
        "norm(x, axis=(0, 1, 2))",
        "norm(x, ord=0)",
        "maximum(x)",
        "maximum(x, x, x)",
        "transpose(x, (1, 0))",
        "9**9**9**9",
        "2**10**9",
        "x**9**9**9",
        "sum(x)**(10**308)",
        "10**400",
        "1" * 400,
        "1" * 5000,
        "1e308*1e308*sum(x)",
        "sum(x)/0",
        "sum(x)/0.0 - sum(x)/0.0",
        "sum(log(-abs(x)))",
        "sum(sqrt(-abs(x)))",
        "sum(exp(1000*x))",
        "sum(x)**-1 * 0",
        "0**-1 + sum(x)",
        "sum(x**0)",
        "sum(x) + 1e-400",
        "sum(x) + 0x" + "f" * 300,
        "sum(x) + 1j",
        "sum(x) + True",
        "sum(x) + None",
        "sum(x) + 'a'",
        "sum(x) + b'a'",
        "sum(x) + ...",
        "sum(x) + []",
        "sum(x) + {1}",
        "sum(x) + (1, 2)",
        "(" * 100 + "x" + ")" * 100,
        "(" * 1000 + "x" + ")" * 1000,
        "sum(" * 70 + "x" + ")" * 70,
        "sum(" * 59 + "x" + ")" * 59,
        "-" * 1000 + "sum(x)",
        "-" * 58 + "sum(x)",
        "sum(x" + "+x" * 600 + ")",
        "sum(x" + "+x" * 240 + ")",
        "sum(x" + ".T" * 400 + ")",
        "sum(x" + "*x" * 1500 + ")",
        "sum(" + "x" * 1990 + ")",
        "sum(" + "x" * 3000 + ")",
        "sum(x)" + " " * 5000,
        "sum(x)\x00",
        "\x00",
        "sum(x\x00)",
        "sum(x)\n+ sum(x)",
        "\nsum(x)",
        "sum(x)\r\n",
        "sum(x) # comment",
        "sum(x);import os",
        "sum(x)\\\n+1",
        "sum(x)\udcff",
        "\udcc3\udca9",
        "sum(\u202ex)",
        "sum(x)\u2066",
        "",
        " ",
        "\t",
        "sum(x).T.T",
        "sum(x.T@x.T)",
        "x@x@x@x@x@x@x@x@x@x",
        "print(1)",
        "breakpoint()",
        "input()",
        "exit()",
        "quit(3)",
        "help()",
        "compile('1','','eval')",
        "type('A', (), {})",
        "memoryview(b'')",
        "super()",
        "sum(x).__reduce_ex__(2)",
        "np.sum(x, axis=None)",
        "np.fft.fft(x)",
        "np.load('w.npy')",
        "np.save('x.npy', x)",
        "numpy.lib.format.os",
        "np.linalg.linalg.os",
        "np.linalg.norm.__call__(x)",
        "sum(x) if 1 else 0",
        "await x",
        "yield x",
        "*x",
        "x and x",
        "not x",
        "~x",
        "x < 1",
        "x // 2",
        "x % 2",
        "x ^ x",
        "x << 1",
        "x @= x",
        "x = 1",
        "del x",
        "assert x",
        "sum(x)\x1b[2J",
        "\u0000\u0001\u0002",
    )


ATTACKS = _attacks()
#: the slow ones (long or deeply nested): drawn a tenth as often
HEAVY_ATTACKS = tuple(a for a in ATTACKS if len(a) > 150)
LIGHT_ATTACKS = tuple(a for a in ATTACKS if len(a) <= 150)

SHAPE_ATTACKS = ("0x3", "3x0", "0", "1x" * 64 + "1", "1x" * 63 + "1", "1x" * 31 + "1", "99999999999x9999999",
                 "1000x1000", "1000x1001", "1000000", "1000001", "10" * 30, "9" * 5000, "-3", "3x-5", "3.5",
                 "1e3", "0b11", "0x10", "٣", "３x５", "3×5", "3X5", "3*5", "3 x 5", " 3", "3 ", "x3", "3x",
                 "3xx5", "(3,5)", "[3]", "scalar", "Scalar", "SCALAR", "scalar ", "", "@", "@@", "=", "3=3",
                 "1_000", "+3", "3x5\x00", "3\n", "2" + "x2" * 20, "00003", "0001x0002", "1x1000000",
                 "1000000x1", "4294967297x4294967297", "2x" * 30 + "2")


def gen_attack(rng: random.Random) -> list[str]:
    r = rng.random()
    payload = rng.choice(HEAVY_ATTACKS if rng.random() < 0.08 else LIGHT_ATTACKS)
    if r < 0.55:
        items = ["-i", "x=3"] if rng.random() < 0.8 else ["-i", "x=3x3", "-i", "y=3"]
        if rng.random() < 0.5:
            return ["render", "-o", "-", "-f", "dot", *items, "--", payload]
        return _interleave(rng, ["check" if rng.random() < 0.3 else "render"], payload,
                           items + (["-o", "-", "-f", "dot"]))
    if r < 0.75:  # hostile input specs
        name = rng.choice(ODD_NAMES + ("x",) * 10)
        shape = rng.choice(SHAPE_ATTACKS)
        spec = f"{name}={shape}" if rng.random() < 0.85 else rng.choice((payload, f"{payload}=3", f"x={payload}",
                                                                        "x", "=3", "x==3", "x=3=3"))
        expr = rng.choice((f"sum({name})", "sum(x)", f"sum({name}*{name})", f"norm({name})",
                           f"sum({name}@{name}.T)", f"mean({name}) + sum(x)"))
        items = ["-i", spec] + (["-i", "x=3"] if rng.random() < 0.5 and name != "x" else [])
        cmd = "check" if rng.random() < 0.25 else "render"
        if cmd == "check" and "1000" in shape:  # bounded: at most a few coordinates
            items += ["--max-coords", "2"]
        return _interleave(rng, [cmd], expr, items + (["-o", "-", "-f", "dot"] if cmd == "render" else []))
    if r < 0.85:  # payloads in other places
        where = rng.choice(("alt", "data", "output", "format", "direction", "seed", "target", "gallery"))
        if where == "alt":
            return ["render", "sum(x)", "-i", "x=3", "-o", "out.dot", "--markdown", "--alt", payload]
        if where == "data":
            return ["render", "sum(x)", "-i", "x=3", "-o", "-", "-f", "dot", "--data", payload]
        if where == "output":
            return ["render", "sum(x)", "-i", "x=3", "-f", "dot", "-o", payload]
        if where == "format":
            return ["render", "sum(x)", "-i", "x=3", "-o", "-", "-f", payload]
        if where == "direction":
            return ["render", "sum(x)", "-i", "x=3", "-o", "-", "-f", "dot", "--direction", payload]
        if where == "seed":
            return ["check", "sum(x)", "-i", "x=3", "--seed", payload]
        if where == "target":
            return ["render", f"{rng.choice(('nope', 'x', payload[:20], 'sub/none', 'dir'))}.py:"
                    f"{rng.choice(('loss', 'f', '__init__', 'x'))}", "-i", "x=3", "-o", "-", "-f", "dot"]
        return ["gallery", payload]
    if r < 0.985:  # names
        name = rng.choice(ODD_NAMES)
        expr = rng.choice((f"sum({name})", f"sum({name}*x)", f"norm({name}) + sum(x)", f"{name}"))
        cmd = rng.choice(("render", "check"))
        return _interleave(rng, [cmd], expr, ["-i", f"{name}=3", "-i", "x=3"]
                           + (["-o", "-", "-f", "dot"] if cmd == "render" else []))
    # a long but legal expression, or many inputs (slow: rare)
    n = rng.randint(50, 400)
    if rng.random() < 0.5:
        names = [f"x{i}" for i in range(n)]
        expr = "+".join(f"sum({v})" for v in names)[:2100]
        used = re.findall(r"x\d+", expr)
        items = [a for v in used for a in ("-i", f"{v}=2")]
        return ["render", expr, *items, "-o", "-", "-f", "dot", "--detail", rng.choice(("structure", "values"))]
    return ["check", "sum(" + "+".join(["x"] * n) + ")", "-i", "x=3"]


def _mutate_str(rng: random.Random, s: str) -> str:
    for _ in range(rng.randint(1, 3)):
        k = rng.random()
        pos = rng.randint(0, len(s))
        if k < 0.45:  # a byte-level flip on the UTF-8 encoding, decoded as argv would be
            b = bytearray(s.encode("utf-8", "surrogateescape"))
            if not b:
                b = bytearray(b"\x80")
            i = rng.randrange(len(b))
            r = rng.random()
            if r < 0.4:
                b[i] ^= 1 << rng.randrange(8)
            elif r < 0.6:
                b.insert(i, rng.randrange(256))
            elif r < 0.8:
                del b[i]
            else:
                b[i] = rng.choice((0x80, 0xC3, 0xE2, 0xF0, 0xFF, 0xC0, 0xED))
            s = bytes(b).decode("utf-8", "surrogateescape")
        elif k < 0.65:
            s = s[:pos] + _random_char(rng) + s[pos:]
        elif k < 0.8 and s:
            i = rng.randrange(len(s))
            s = s[:i] + s[i + 1:]
        elif k < 0.9 and s:
            i = rng.randrange(len(s))
            s = s[:i] + _random_char(rng) + s[i + 1:]
        elif s:
            i, j = sorted((rng.randrange(len(s)), rng.randrange(len(s))))
            s = s[:j] + s[i:j] + s[j:]  # duplicate a slice
    return s


def _random_char(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return rng.choice("()[]+-*/@.,:=_ xWb0123456789eT'\"\\#;!~%^&|<>{}$`\t")
    if r < 0.6:
        return chr(rng.randrange(0, 32))
    if r < 0.7:
        return chr(rng.randrange(0xDC80, 0xDD00))  # surrogate-escaped byte
    if r < 0.85:
        return chr(rng.randrange(0x80, 0x3000))
    return chr(rng.choice((0x202E, 0x200B, 0xFEFF, 0xFF58, 0x1D465, 0x2212, 0x00A0, 0x2028, 0x85, 0x1F600)))


def gen_mutate(rng: random.Random) -> list[str]:
    args, _ = gen_valid(rng, base=True)
    for _ in range(rng.randint(1, 3)):
        k = rng.random()
        if k < 0.7:
            # mostly the expression or an -i value
            weights = [3 if (not a.startswith("-") or "=" in a) else 1 for a in args]
            i = rng.choices(range(len(args)), weights)[0]
            if i == 0 and rng.random() < 0.7:
                i = min(1, len(args) - 1)
            args[i] = _mutate_str(rng, args[i])
        elif k < 0.78 and len(args) > 1:
            del args[rng.randrange(1, len(args))]
        elif k < 0.86:
            i = rng.randrange(len(args))
            args.insert(rng.randrange(len(args) + 1), args[i])
        elif k < 0.93 and len(args) > 2:
            i, j = rng.randrange(len(args)), rng.randrange(len(args))
            args[i], args[j] = args[j], args[i]
        else:
            args.insert(rng.randrange(len(args) + 1), rng.choice(_ARGV_TOKENS))
    return args


_MINUS_EXPRS = ("-x", "--x", "-sum(x)", "-mean(log(softmax(x)))", "- sum(x)", "-1*sum(x)", "-(sum(x))",
                "-x@x", "---sum(x)", "-sum(x)-sum(x)", "-norm(x)", "-x.T@x", "-", "--", "-0", "-1e3",
                "-np.sum(x)", "-i", "-o", "-h", "-V", "--help", "--version", "--seed", "-sum(-x)",
                "-mean(-x)", "--sum(x)", "-e", "-f", "-ix=3", "-o-", "-x=3")


def gen_minus(rng: random.Random) -> list[str]:
    expr = rng.choice(_MINUS_EXPRS)
    cmd = rng.choice(("render", "check", "render"))
    opts = ["-i", rng.choice(("x=3", "x=scalar", "x=3", "x=2x2"))]
    if cmd == "render":
        opts += ["-o", "-", "-f", "dot"]
    if rng.random() < 0.2:
        opts += ["--seed", rng.choice(("-1", "-0", "--1", "-5"))]
    r = rng.random()
    if r < 0.3:
        return _interleave(rng, [cmd], expr, opts)
    if r < 0.6:
        return [cmd, *opts, "--", expr]
    if r < 0.7:
        return [cmd, "--", expr, *opts]
    if r < 0.8:
        return [cmd, *opts, "--", "--", expr]
    if r < 0.9:
        i = rng.randrange(len(opts) + 1)
        return [cmd, *opts[:i], "--", *opts[i:], expr]
    return ["--", cmd, expr, *opts] if rng.random() < 0.5 else [cmd, expr, "--", *opts]


_LOOKALIKE = {"x": ("𝑥", "ｘ", "х", "x\u200b", "\u202ex", "x\u0301", "ⅹ", "\ufeffx", "𝐱", "\u200fx", "x\u200e"),
              "sum": ("ｓｕｍ", "ѕum", "sum\u200b", "𝐬𝐮𝐦", "Sum"),
              "(": ("（", "❨", "⁽"), ")": ("）", "❩", "⁾"),
              "-": ("−", "‐", "–", "—", "－"), "*": ("×", "·", "∗", "＊"),
              "@": ("＠", "﹫"), ".": ("．", "·"), " ": ("\u00a0", "\u2003", "\u3000", "\u2028", "\x85"),
              "2": ("²", "٢", "𝟐", "２"), "3": ("３", "٣", "³")}


def gen_unicode(rng: random.Random) -> list[str]:
    base = rng.choice(("sum(x*x)", "-sum(x) * 2", "sum(x) @ 2", "sum(x.T - 3)", "mean(exp(x)) * 2",
                       "sum( x )"))
    chars = list(base)
    for i, ch in enumerate(chars):
        if ch in _LOOKALIKE and rng.random() < 0.4:
            chars[i] = rng.choice(_LOOKALIKE[ch])
    expr = "".join(chars)
    if "sum" in base and rng.random() < 0.3:
        expr = expr.replace("sum", rng.choice(_LOOKALIKE["sum"]), 1)
    name = "x" if rng.random() < 0.6 else rng.choice(_LOOKALIKE["x"] + ("é", "Σ", "µ", "ﬁ", "x\udcff"))
    shape = "3" if rng.random() < 0.7 else rng.choice(("３", "٣", "3ｘ3", "3×3", "3x３", "²", "𝟑"))
    cmd = rng.choice(("render", "check"))
    opts = ["-i", f"{name}={shape}"]
    if name != "x" and rng.random() < 0.5:
        opts += ["-i", "x=3"]
    if cmd == "render":
        r = rng.random()
        if r < 0.7:
            opts += ["-o", "-", "-f", "dot"]
        else:
            opts += ["-o", rng.choice(("ünï.dot", "\u202eout.dot", "x\u200b.dot", "a\nb.dot", "a\rb.dot",
                                       "tab\t.dot", "emoji😀.dot", "out.dot\udcff", "ｏｕｔ.dot"))]
            if rng.random() < 0.3:
                opts += ["--markdown", "--alt", rng.choice(("ünï", "\u202e", "a\nb", "\udcff", "[x](y)"))]
    if rng.random() < 0.15:
        opts.insert(rng.randrange(len(opts) + 1), rng.choice(("—seed", "‐o", "－i", "--ｓｅｅｄ", "--seed\u200b")))
    return _interleave(rng, [cmd], expr, opts)


def gen_files(rng: random.Random) -> list[str]:
    r = rng.random()
    if r < 0.25:  # FILE.py:FUNC targets: only model.py exists
        target = rng.choice(("model.py:loss", "model.py:loss", "model.py:vec", "model.py:nope",
                             "model.py:VALUE", "model.py:np", "model.py:__init__", "model.py:__class__",
                             "model.py:kw", "model.py:ints", "./model.py:loss", "missing.py:loss",
                             "sub/missing.py:loss", "sub.py:loss", "w.npy:loss", "model.py:", "model.py",
                             ".py:f", "model.py:loss:loss", "model.py:1x", "model.PY:loss", "dirpy.py:loss",
                             "model.py:lo ss", "model.py :loss"))
        items = rng.choice((["-i", "W=3x5", "-i", "x=5"], ["-i", "x=5"], [], ["-i", "W=@w.npy", "-i", "x=@x.npy"],
                            ["-i", "W=3x5", "-i", "x=5", "-i", "extra=2"], ["-i", "W=5x3", "-i", "x=5"]))
        if rng.random() < 0.5:
            return ["render", target, *items, "-o", "-", "-f", "dot"]
        return ["check", target, *items, "--max-coords", "20"]
    fixture = rng.choice(FILE_SPECS)
    if fixture == "@bomb.npz" and rng.random() < 0.99:  # expensive (seconds): keep it rare
        fixture = "@w.npy"
    name = rng.choice(("W", "W", "x", "p", "y"))
    spec = f"{name}={fixture}"
    expr = rng.choice((f"sum({name})", f"sum({name}*{name})", f"norm({name})", f"sum(tanh({name}))"))
    if rng.random() < 0.15:
        spec = spec.replace(fixture, fixture + rng.choice((":W", ":x", ":nope", "::", ":", ":W:x", "\x00")))
    cmd = "render" if rng.random() < 0.7 else "check"
    opts = ["-i", spec] + (["-o", "-", "-f", "dot", "--detail", rng.choice(("structure", "values"))]
                           if cmd == "render" else ["--max-coords", "3"])
    return _interleave(rng, [cmd], expr, opts)


FILE_SPECS = ("@w.npy", "@x.npy", "@params.npz", "@one.npz", "@empty.npz", "@ints.npy", "@bools.npy",
              "@str.npy", "@obj.npy", "@complex.npy", "@zero.npy", "@scalar.npy", "@nan.npy", "@f16.npy",
              "@f32.npy", "@u8.npy", "@fortran.npy", "@big.npy", "@corrupt.npy", "@corrupt.npz",
              "@truncated.npy", "@hugehdr.npy", "@hugehdr.npz", "@neghdr.npy", "@dims65.npy",
              "@evilhdr.npy", "@v3.npy", "@dtypehdr.npy", "@bomb.npz", "@empty.npy", "@missing.npy",
              "@", "@sub", "@sub/", "@/dev/null", "@model.py", "@x.npy:W", "@params.npz:W",
              "@params.npz:nope", "@ünï.npy", "@a b.npy", "@structured.npy", "@datetime.npy", "@nested.npz",
              "@objnpz.npz", "@dims33.npy")


def gen_options(rng: random.Random) -> list[str]:
    r = rng.random()
    if r < 0.08:
        return rng.choice((["--help"], ["render", "--help"], ["check", "-h"], ["gallery", "--help"],
                           ["--version"], ["-V"], [], ["help"], ["render"], ["check"], ["-h", "render"],
                           ["render", "sum(x)"], ["render", "sum(x)", "-i", "x=3"], ["--version", "render"]))
    if r < 0.14:
        return rng.choice((["gallery"], ["gallery", "nope"], ["gallery", "autoencoder", "nope"],
                           ["gallery", "--all", "-f", "nope"], ["gallery", "-o", "model.py", "autoencoder"],
                           ["gallery", "", "-f", "dot"], ["gallery", "--out", "", "-f", "dot", "autoencoder"],
                           ["gallery", "-f", "dot", "-o", "gout", "autoencoder"] if rng.random() < 0.05
                           else ["gallery", "x" * 200]))
    expr, items, env = _valid_parts(rng)
    cmd = rng.choice(("render", "render", "check"))
    opts = items + _new_options(rng)
    if cmd == "render":
        opts += _drawing_options(rng, env) + _drawing_options(rng, env)
        opts += ["-o", "-", "-f", "dot"] if rng.random() < 0.7 else rng.choice((
                           ["-o", "-", "-f", "dot"], ["-o", "out.txt"], ["-o", "out"],
                            ["-o", "sub", "-f", "dot"], ["-o", "", "-f", "dot"], ["-o", "-", "-f", "DOT"],
                            ["-o", "-", "-f", "dot", "--markdown"], ["-o", "out.dot", "-f", "dot", "--markdown"],
                            ["-o", "/dev/null", "-f", "dot"], ["-o", "nodir/out.dot"], ["-f", "dot"],
                            ["-o", "-", "-o", "-", "-f", "dot"], ["-o", "-", "-f", "dot", "-f", "dot"],
                            ["-o", "out.dot", "--alt", "no markdown"], ["-o", "model.py", "-f", "dot"],
                            ["-o", "x.npy", "-f", "dot"], ["--output", "-", "--format=dot"],
                            ["-o", ".dot"], ["-o", "out.dot/"], ["-o", "..dot"]))
    else:
        opts += _check_options(rng) + _check_options(rng)
    if rng.random() < 0.1:
        opts.append(rng.choice(("--bogus", "--seed", "-i", "-o", "--rtol", "-x", "--data", "--markdown=1",
                                "--help", "-Z", "--no-such")))
    return _interleave(rng, [cmd], expr, opts)


def generate(seed: int, index: int, dot_fraction: float = DEFAULT_DOT_FRACTION) -> Case:
    """Line ``index`` of the campaign with ``seed``: always the same line."""
    rng = random.Random(seed * 1_000_000_007 + index)
    gen = rng.choices(GENERATORS, WEIGHTS)[0]
    dot = False
    if gen == "valid":
        args, dot = gen_valid(rng, dot_share=dot_fraction * sum(WEIGHTS) / WEIGHTS[0])
    else:
        args = globals()[f"gen_{gen}"](rng)
    return Case(index, gen, sanitize(args), dot)


_ABS = re.compile(r"(^|[=@]|^-o|^--out(?:put)?=?)/(?!dev/null$)")


def sanitize(args: list[str]) -> list[str]:
    """Keep every path inside the scratch directory: no absolute path (but /dev/null), no '..'
    path component, no --debug (it shows tracebacks by design)."""
    out = []
    for a in args:
        if a == "--debug":
            a = "--debug-not"
        if "/" in a:
            a = _ABS.sub(lambda m: m.group(1) + "./", a)
            if ".." in a:
                a = a.replace("..", "._")
        if a.startswith("~"):
            a = "_" + a[1:]
        out.append(a)
    return out


def command_line(args: list[str]) -> str:
    """A shell command line (bytes that are not UTF-8 shown as $'\\xNN')."""
    parts = []
    for a in args:
        if any(0xDC80 <= ord(c) <= 0xDCFF for c in a) or any(ord(c) < 32 or ord(c) == 127 for c in a):
            b = a.encode("utf-8", "surrogateescape")
            esc = "".join(chr(c) if 32 <= c < 127 and c not in (39, 92) else f"\\x{c:02x}" for c in b)
            parts.append(f"$'{esc}'")
        else:
            parts.append(shlex.quote(a))
    return " ".join([PROG] + parts)


# ==================================================================================================
# the sandbox: fixtures, audit hook, canaries

MODEL_SOURCE = '''"""A harmless fixture for the CLI fuzzer: plain NumPy losses."""
import numpy as np

VALUE = 3


def loss(W, x):
    return 0.5 * np.sum((W.T @ W @ x - x) ** 2)


def vec(x):
    return x * 2.0


def kw(**values):
    return sum(np.sum(v) for v in values.values())


def ints(x):
    return np.sum(x.astype(int))
'''


def _npy_with_header(header: str, payload: bytes = b"", version: tuple[int, int] = (1, 0)) -> bytes:
    h = header.encode("latin1")
    fmt_len = 2 if version == (1, 0) else 4
    pad = (64 - (10 + (fmt_len - 2) + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    size = len(h).to_bytes(fmt_len, "little")
    return b"\x93NUMPY" + bytes(version) + size + h + payload


def make_fixtures(root: Path, bomb: bool = True) -> dict[str, tuple[int, float]]:
    """Write the scratch directory's fixtures; returns their (size, mtime) to notice overwrites.
    ``bomb``: also the decompression bomb (about a second of deflating to write)."""
    import zipfile

    import numpy as np

    rng = np.random.default_rng(0)
    (root / "sub").mkdir(exist_ok=True)
    (root / "dirpy.py").mkdir(exist_ok=True)
    (root / MODEL_FILE).write_text(MODEL_SOURCE)
    np.save(root / "w.npy", rng.normal(size=(3, 5)))
    np.save(root / "x.npy", rng.normal(size=5))
    np.savez(root / "params.npz", W=rng.normal(size=(3, 5)), x=rng.normal(size=5))
    np.savez(root / "one.npz", only=rng.normal(size=4))
    np.savez(root / "empty.npz")
    np.savez(root / "nested.npz", **{"a/b": np.ones(3), "W": np.ones((2, 2))})
    np.save(root / "ints.npy", np.arange(6).reshape(2, 3))
    np.save(root / "bools.npy", np.array([True, False, True]))
    np.save(root / "str.npy", np.array(["a", "bc"]))
    np.save(root / "complex.npy", np.array([1 + 2j, 3]))
    np.save(root / "zero.npy", np.zeros((0, 3)))
    np.save(root / "empty.npy", np.zeros((0,)))
    np.save(root / "scalar.npy", np.float64(2.5))
    np.save(root / "nan.npy", np.array([np.nan, np.inf, -np.inf, 1e308]))
    np.save(root / "f16.npy", np.ones(3, dtype=np.float16))
    np.save(root / "f32.npy", np.ones((2, 2), dtype=np.float32))
    np.save(root / "u8.npy", np.array([0, 255], dtype=np.uint8))
    np.save(root / "fortran.npy", np.asfortranarray(rng.normal(size=(3, 4))))
    np.save(root / "big.npy", rng.normal(size=(200, 200)))
    np.save(root / "structured.npy", np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]))
    np.save(root / "datetime.npy", np.array(["2020-01-01"], dtype="datetime64[D]"))
    np.save(root / "ünï.npy", np.ones(3))
    np.save(root / "a b.npy", np.ones(3))
    with open(root / "obj.npy", "wb") as fh:  # an object array: pickled, refused by allow_pickle=False
        np.save(fh, np.array([1, "a"], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(root / "objnpz.npz", "w") as z:
        z.writestr("W.npy", (root / "obj.npy").read_bytes())
    (root / "corrupt.npy").write_bytes(b"\x93NUMPY\x01\x00garbage" + bytes(range(256)))
    (root / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(range(200)))
    (root / "truncated.npy").write_bytes(
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (1000, 1000), }", b"\x00" * 10))
    (root / "hugehdr.npy").write_bytes(
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000000,), }", b"\x00" * 64))
    (root / "neghdr.npy").write_bytes(
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (-1, 3), }", b"\x00" * 24))
    (root / "dims65.npy").write_bytes(
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1, " * 65 + "), }", b"\x00" * 8))
    (root / "dims33.npy").write_bytes(
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (" + "1, " * 33 + "), }", b"\x00" * 8))
    (root / "evilhdr.npy").write_bytes(
        _npy_with_header("{'descr': __import__('os').system('touch %s'), 'fortran_order': False, "
                         "'shape': (3,), }" % CANARY_FILES[4], b"\x00" * 24))
    (root / "dtypehdr.npy").write_bytes(
        _npy_with_header("{'descr': [('a', '<f8', (99999999, 99999999))], 'fortran_order': False, 'shape': (1,), }"))
    (root / "v3.npy").write_bytes(
        _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", b"\x00" * 24, (3, 0)))
    # an archive whose member's header claims 10**10 float64 (80 GB) but holds a few bytes
    with zipfile.ZipFile(root / "hugehdr.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("W.npy", _npy_with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (10000000000,), }", b"\x00" * 64))
    # a decompression bomb: ~250 KB on disk, 2**25 float64 zeros (256 MiB) once decompressed
    n = 2 ** 25
    path = root / "bomb.npz"
    if not bomb or (path.is_file() and zipfile.is_zipfile(path)):
        return {p.name: _stamp(p) for p in root.iterdir()}
    with zipfile.ZipFile(root / "bomb.npz", "w", zipfile.ZIP_DEFLATED) as z:
        with z.open("W.npy", "w", force_zip64=True) as member:
            member.write(_npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (%d,), }" % n))
            chunk = bytes(1 << 20)
            for _ in range(n * 8 // len(chunk)):
                member.write(chunk)
    return {p.name: _stamp(p) for p in root.iterdir()}


def _stamp(p: Path) -> tuple[int, float]:
    """(size, mtime) of a file; (0, 0) for a directory, whose mtime changes with what is put in it."""
    if p.is_dir():
        return 0, 0.0
    st = p.stat()
    return st.st_size, st.st_mtime


_STDLIB = tuple({os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep,
                 sysconfig.get_paths()["stdlib"] + os.sep})
#: stdlib modules that running attacker-chosen code would want; the library never needs them lazily
RISKY_MODULES = {"antigravity", "this", "webbrowser", "pty", "ctypes", "socket", "http", "urllib", "ftplib",
                 "smtplib", "telnetlib", "code", "codeop", "runpy", "pdb", "subprocess", "shutil", "pickle",
                 "marshal", "asyncio", "ssl", "xmlrpc", "turtle", "tkinter", "idlelib", "cProfile", "profile",
                 "trace", "mailbox", "imaplib", "poplib", "socketserver", "sqlite3", "multiprocessing"}
ALLOWED_PACKAGES = {"graphviz_bp", "numpy", "click", "graphviz"}


class Sandbox:
    """The audit hook's state: armed while a line runs, collecting what it flags."""

    def __init__(self, root: Path) -> None:
        self.root = str(root.resolve()) + os.sep
        self.model = str((root / MODEL_FILE).resolve())
        self.armed = False
        self.flags: list[str] = []
        self.dot_calls = 0
        self.lazy_imports: dict[str, int] = {}  # new imports seen while fuzzing (module -> first line)
        self.line = -1
        self.start_modules = set(sys.modules)
        self.allowed_dirs = (self.root, "/dev/")
        self.allowed_ctypes: set[str] = set()

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed or event not in _EVENTS:
            return
        self.armed = False  # nothing we do here is audited recursively
        try:
            self._hook(event, args)
        except Exception as exc:  # noqa: BLE001 - a broken hook must not look like the library's bug
            self.flags.append(f"audit hook error on {event}: {type(exc).__name__}: {exc}")
        finally:
            self.armed = True

    def _hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event in ("exec", "compile"):
            caller = sys._getframe(3).f_code.co_filename  # _hook, hook, _global_hook, then exec's caller
            ok_caller = caller.startswith("<frozen ") or caller.startswith(_STDLIB)
            if event == "exec":
                code_file = getattr(args[0], "co_filename", "")
                in_scratch = code_file.startswith(self.root)
                if not ok_caller or (in_scratch and code_file != self.model):
                    self.flags.append(f"code execution: exec of code from {code_file!r} called by {caller}")
            elif not ok_caller:
                self.flags.append(f"code execution: compile() called by {caller}")
        elif event == "import":
            name = args[0]
            if name in sys.modules:
                return
            top = name.partition(".")[0]
            self.lazy_imports.setdefault(name, self.line)
            if top in RISKY_MODULES or (top not in sys.stdlib_module_names and top not in ALLOWED_PACKAGES):
                if not top.startswith(("graphviz_bp_user_", "graphviz_bp_gallery_")):
                    self.flags.append(f"code execution: import of {name!r}")
        elif event == "subprocess.Popen":
            executable, argv = args[0], args[1]
            prog = executable or (argv if isinstance(argv, (str, bytes)) else (argv[0] if argv else ""))
            prog = os.path.basename(os.fsdecode(prog)).split()[0] if prog else ""
            if prog in ("dot", "dot.exe"):
                self.dot_calls += 1
            else:
                self.flags.append(f"code execution: subprocess {argv!r}")
        elif event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int) or path is None:
                return
            p = os.fsdecode(path)
            if CANARY in p:
                self.flags.append(f"code execution: open of canary path {p!r}")
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                (isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            if writing and not (os.path.abspath(p) + os.sep).startswith(self.allowed_dirs):
                self.flags.append(f"write outside the scratch directory: {p!r}")
        elif event in ("os.remove", "os.rename", "os.replace", "os.mkdir", "os.rmdir", "shutil.rmtree",
                       "os.truncate", "os.chmod", "os.symlink", "os.link"):
            for a in args[:2]:
                if isinstance(a, (str, bytes, os.PathLike)):
                    p = os.path.abspath(os.fsdecode(a))
                    if not (p + os.sep).startswith(self.allowed_dirs):
                        self.flags.append(f"{event} outside the scratch directory: {p!r}")
        elif event in ("os.putenv", "os.unsetenv"):
            if CANARY in os.fsdecode(args[0]):
                self.flags.append(f"code execution: {event} {args[0]!r}")
        elif event in ("os.kill", "os.killpg"):
            # the library stopping its own dot (a --timeout) is fine; any other signal is not
            user = _first_non_stdlib_frame(sys._getframe(3))
            if os.sep + "graphviz_bp" + os.sep in user and args[0] != os.getpid():
                self.allowed_ctypes.add(f"{event} from {Path(user).name}")
            else:
                self.flags.append(f"code execution: {event} {args!r} from {user}")
        elif event.startswith("ctypes."):
            user = _first_non_stdlib_frame(sys._getframe(3))
            if user.endswith(os.sep.join(("graphviz_bp", "dot.py"))):  # prctl(PR_SET_PDEATHSIG) for dot
                self.allowed_ctypes.add(f"{event} {args[-1]!r} from {Path(user).name}")
            else:
                self.flags.append(f"code execution: {event} {args!r} from {user}"[:300])
        else:  # os.system, os.exec, os.spawn, os.posix_spawn, os.fork, ctypes.dlopen, ...
            self.flags.append(f"code execution: {event} {args!r}"[:300])


def _first_non_stdlib_frame(frame: Any) -> str:
    while frame is not None:
        fn = frame.f_code.co_filename
        if not (fn.startswith("<frozen ") or fn.startswith(_STDLIB)):
            return fn
        frame = frame.f_back
    return "?"


_EVENTS = frozenset({"exec", "compile", "import", "subprocess.Popen", "open", "os.system", "os.exec",
                     "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "os.startfile", "pty.spawn",
                     "ctypes.dlopen", "ctypes.dlsym", "ctypes.call_function", "os.remove", "os.rename",
                     "os.replace", "os.mkdir", "os.rmdir", "shutil.rmtree", "os.truncate", "os.chmod",
                     "os.symlink", "os.link", "os.kill", "os.killpg", "socket.connect", "socket.bind",
                     "urllib.Request", "webbrowser.open", "builtins.input", "sys.settrace",
                     "sys.setprofile", "os.putenv", "os.unsetenv"})

_SANDBOX: Sandbox | None = None


def _global_hook(event: str, args: tuple[Any, ...]) -> None:
    sb = _SANDBOX
    if sb is not None:
        sb.hook(event, args)


# ==================================================================================================
# running and checking one line

class LineTimeout(BaseException):
    """Raised by the alarm when a line runs too long (a BaseException: click does not catch it).

    The alarm counts CPU time (ITIMER_VIRTUAL, SIGVTALRM), leaving SIGALRM and the real-time timer
    to the library (its --timeout); a line blocked without using CPU is caught by the campaign's
    watchdog instead, which kills the worker."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise LineTimeout()


@dataclass
class Failure:
    index: int
    gen: str
    kind: str
    signature: str
    command: str
    args: list[str]
    exit_code: int | None
    stderr: str
    detail: str = ""


@dataclass
class Outcome:
    exit_code: int | None
    stdout: str
    stderr: str
    seconds: float
    failures: list[Failure] = field(default_factory=list)
    notes: list[Failure] = field(default_factory=list)  # not failures: messages worth a look
    check_failed: bool = False


_ERROR = "graphviz-bp: error: "
_WARNING = "graphviz-bp: warning: "
_INTERNALISH = re.compile(r"object has no attribute|takes \d+ positional argument|got multiple values|"
                          r"unexpected keyword|not subscriptable|NoneType|object is not callable|unhashable|"
                          r"index out of range|KeyError|unsupported operand|object is not iterable|"
                          r"referenced before assignment|maximum recursion|cannot unpack|codec can't|"
                          r"invalid literal for int|could not convert|must be real number|"
                          r"^(?:\w+Error|\w+Exception): ")


def normalize(text: str) -> str:
    """A failure's grouping key: numbers, quoted text and paths abstracted, cut to a length."""
    t = re.sub(r"\\udc[0-9a-f]{2}|[\udc80-\udcff]", lambda m: "<byte>", text)
    t = re.sub(r"(?<!\w)'[^']*'(?!\w)|(?<!\w)\"[^\"]*\"(?!\w)", "'…'", t)
    t = re.sub(r"\d+(\.\d+)?(e[-+]?\d+)?", "N", t)
    t = re.sub(r"/[\w./-]+", "PATH", t)
    t = re.sub(r"(N[×x,]\s*)+N", "N", t)
    return " ".join(t.split())[:140]


class Runner:
    """Runs lines in-process inside a scratch directory and checks each result."""

    def __init__(self, root: Path, *, timeout: float = 20.0, watch_fds: bool = False, bomb: bool = True) -> None:
        global _SANDBOX
        import numpy  # noqa: F401 - the library's own imports happen before the snapshot
        from click.testing import CliRunner

        from graphviz_bp.cli import main

        self.root = root.resolve()
        os.chdir(self.root)
        self.bomb = bomb
        self.fixtures = make_fixtures(self.root, bomb)
        self.main = main
        try:
            self.cli = CliRunner(mix_stderr=False)  # click < 8.2
        except TypeError:
            self.cli = CliRunner()
        self.timeout = timeout
        self.sandbox = Sandbox(self.root)
        if _SANDBOX is None:
            sys.addaudithook(_global_hook)
        _SANDBOX = self.sandbox
        self.fd_watch: dict[int, tuple[str, int]] = {}
        if watch_fds:
            for fd in (1, 2):  # output the library or a child writes to the process's fds, not sys.*
                path = str(self.root.parent / f"{self.root.name}.fd{fd}")
                tgt = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                self.saved = getattr(self, "saved", {})
                self.saved[fd] = os.dup(fd)
                os.dup2(tgt, fd)
                os.close(tgt)
                self.fd_watch[fd] = (path, 0)
        self.baseline = set(os.listdir(self.root))
        self.lines = 0
        self._fixture_re: re.Pattern[str] | None = None
        self._state: dict[str, Any] | None = None

    def close(self) -> None:
        global _SANDBOX
        if self.fd_watch:
            for fd, saved in self.saved.items():
                os.dup2(saved, fd)
                os.close(saved)
        if _SANDBOX is self.sandbox:
            _SANDBOX = None

    def run(self, case: Case) -> Outcome:
        sb = self.sandbox
        sb.flags = []
        if self._state is None:
            self._state = _process_state()
        sb.line = case.index
        before = set(os.listdir("."))
        old = signal.signal(signal.SIGVTALRM, _on_alarm) if self.timeout else None
        t0 = time.perf_counter()
        result = None
        escaped: BaseException | None = None
        try:
            with warnings.catch_warnings():
                # As in a fresh `graphviz-bp` process: the interpreter's default filters, warnings shown
                # on sys.stderr (CliRunner's), each warning registry reset for every line.
                warnings.resetwarnings()
                warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
                for cat in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                    warnings.filterwarnings("ignore", category=cat, append=True)
                warnings.showwarning = _show_warning
                if self.timeout:
                    signal.setitimer(signal.ITIMER_VIRTUAL, self.timeout)
                sb.armed = True
                try:
                    result = self.cli.invoke(self.main, case.args, catch_exceptions=True, prog_name=PROG)
                finally:
                    sb.armed = False
                    if self.timeout:
                        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        except LineTimeout as exc:
            escaped = exc
        except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt is the user's
            if isinstance(exc, KeyboardInterrupt):
                raise
            escaped = exc
        finally:
            if old is not None:
                signal.signal(signal.SIGVTALRM, old)
        seconds = time.perf_counter() - t0
        self.lines += 1
        if result is not None:
            exc = result.exception
            if exc is not None and not isinstance(exc, SystemExit):
                escaped = exc
            stdout, stderr = _text(result, "stdout"), _text(result, "stderr")
            code = result.exit_code
        else:
            stdout = stderr = ""
            code = None
        out = Outcome(code, stdout, stderr, seconds)
        self._check(case, out, escaped, result, before)
        del result, escaped  # a kept traceback would keep the line's frames (and files) alive
        self._check_state(case, out)
        self._restore(case, out)
        return out

    # ----------------------------------------------------------------------------------------------
    def _fail(self, case: Case, out: Outcome, kind: str, message: str, detail: str = "") -> None:
        out.failures.append(Failure(case.index, case.gen, kind, f"{kind}: {normalize(message)}",
                                    command_line(case.args), list(case.args), out.exit_code,
                                    out.stderr[:2000], detail[:4000]))

    def _check(self, case: Case, out: Outcome, escaped: BaseException | None, result: Any,
               before: set[str]) -> None:
        sb = self.sandbox
        for flag in sb.flags:
            kind = "code execution" if flag.startswith("code execution") else "sandbox"
            self._fail(case, out, kind, flag)
        for name in CANARY_FILES:
            if os.path.lexists(name):
                self._fail(case, out, "code execution", f"canary file {name} was created")
                os.remove(name)
        if os.environ.pop(CANARY_ENV, None) is not None:
            self._fail(case, out, "code execution", f"canary environment variable {CANARY_ENV} was set")
        for fd, (path, size) in list(self.fd_watch.items()):
            now = os.path.getsize(path)
            if now != size:
                with open(path, "rb") as fh:
                    fh.seek(size)
                    data = fh.read(2000).decode("utf-8", "replace")
                self.fd_watch[fd] = (path, now)
                self._fail(case, out, f"raw output on fd {fd}", data.strip().splitlines()[0] if data.strip() else "",
                           data)
        if isinstance(escaped, LineTimeout):
            self._fail(case, out, "timeout", f"still running after {self.timeout:g} s of CPU time")
            return
        if escaped is not None:
            tb = "".join(traceback.format_exception(type(escaped), escaped, escaped.__traceback__))
            where = _library_frame(escaped)
            self._fail(case, out, "exception escaped", f"{type(escaped).__name__} at {where}: {escaped}", tb)
            return
        code, err = out.exit_code, out.stderr
        lines = err.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        if code not in (0, 1, 2):
            self._fail(case, out, "bad exit code", f"exit {code}: {lines[:1]}")
        text = out.stdout + err
        if "internal error" in text:
            m = re.search(r"internal error: (.*)", text)
            self._fail(case, out, "internal error", m.group(1) if m else "internal error")
        if "Traceback" in err or "Traceback (most recent call last)" in out.stdout:
            self._fail(case, out, "traceback", next((l for l in reversed(lines) if l.strip()), "Traceback"))
        if any("\r" in l for l in lines):
            self._fail(case, out, "carriage return on stderr", next(l for l in lines if "\r" in l))
        if code in (1, 2):
            if code == 1 and all(l.startswith(_WARNING) for l in lines) and _command(case.args) == "check" \
                    and re.search(r"  NO$", out.stdout, re.M):
                out.check_failed = True  # check's verdict: the table says NO; no error line
            elif len(lines) != 1:
                if lines and lines[-1].startswith(_ERROR) and all(
                        l.startswith(_WARNING) or l.startswith("wrote ") for l in lines[:-1]):
                    self._fail(case, out, "extra stderr lines before the error", lines[0])
                else:
                    first_odd = next((l for l in lines if not l.startswith(_ERROR)), lines[0] if lines else "")
                    self._fail(case, out, f"{len(lines)} stderr lines on exit {code}", first_odd or "(none)")
            elif not lines[0].startswith(_ERROR):
                self._fail(case, out, "error line without the prefix", lines[0])
            elif _INTERNALISH.search(lines[0][len(_ERROR):]):
                n = len(out.failures)
                self._fail(case, out, f"Python-internal wording on exit {code}", lines[0][len(_ERROR):])
                out.notes.append(out.failures.pop(n))
        elif code == 0:
            for line in lines:
                if not (line.startswith("wrote ") or line.startswith(_WARNING)):
                    self._fail(case, out, "unexpected stderr on success", line)
                    break
            if _command(case.args) == "render" and not out.stdout and not any(l.startswith("wrote ") for l in lines):
                self._fail(case, out, "render exit 0 without output", "nothing on stdout, no 'wrote'")
        after = set(os.listdir("."))
        new = after - before
        if new and code != 0:
            self._fail(case, out, "file left behind by a failure", ", ".join(sorted(new))[:200])
        elif new:
            named = [os.fsencode(a) for a in case.args if a]
            if _command(case.args) == "gallery":
                named += [os.fsencode(f"{n}.") for n in _gallery_names()]
            stray = [n for n in new if not any(os.fsencode(n) in a or a in os.fsencode(n) for a in named)]
            if stray:
                self._fail(case, out, "stray file after success", ", ".join(sorted(stray))[:200])
        if len(after) > len(self.baseline) + 40:
            self._clean(after)

    def _check_state(self, case: Case, out: Outcome) -> None:
        """The process must be as the line found it: what one line changes, the next would inherit
        (and so would a program using the library)."""
        now = _process_state()
        if now == self._state:
            return
        if now["fds"] != self._state["fds"]:  # an unreachable cycle may still hold a file: collect it
            import gc
            gc.collect()
            now = _process_state()
        for key, was in self._state.items():
            if now[key] != was:
                if key == "fds" and now[key] < was:
                    continue
                if isinstance(was, dict):
                    keys = sorted(k for k in set(was) | set(now[key]) if was.get(k) != now[key].get(k))
                    change = f"{key}: {', '.join(keys)[:200]} changed"
                else:
                    change = f"{key}: {_short(was)} -> {_short(now[key])}"
                self._fail(case, out, "process state changed", change)
                _restore_state(key, was)
        self._state = _process_state()

    def _clean(self, names: Iterable[str]) -> None:
        import shutil

        for n in names:
            if n not in self.baseline:
                p = self.root / n
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    try:
                        p.unlink()
                    except OSError:
                        pass

    def _restore(self, case: Case, out: Outcome) -> None:
        """A line that wrote onto a fixture (-o model.py -f dot): write the fixtures again."""
        if self._fixture_re is None:
            names = sorted((n for n in self.fixtures if len(n) > 2), key=len, reverse=True)
            self._fixture_re = re.compile("|".join(map(re.escape, names)))
        if out.exit_code == 0 and any(self._fixture_re.search(a) for a in case.args):
            for name, stamp in self.fixtures.items():
                p = self.root / name
                if not p.exists() or (p.is_file() and _stamp(p) != stamp) or (stamp[0] and not p.is_file()):
                    self.fixtures = make_fixtures(self.root, self.bomb)
                    break


def _process_state() -> dict[str, Any]:
    import resource
    import threading

    import numpy as np

    umask = os.umask(0o022)
    os.umask(umask)
    return {
        "cwd": os.getcwd(), "sys.path": list(sys.path), "environ": dict(os.environ), "umask": umask,
        "numpy errstate": np.geterr(), "recursion limit": sys.getrecursionlimit(),
        "rlimits": tuple(resource.getrlimit(r) for r in (resource.RLIMIT_AS, resource.RLIMIT_CPU,
                                                         resource.RLIMIT_DATA, resource.RLIMIT_FSIZE)),
        "signal handlers": tuple(signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM,
                                                             signal.SIGPIPE, signal.SIGXCPU, signal.SIGCHLD)),
        "timer": signal.getitimer(signal.ITIMER_REAL)[0] > 0,
        "threads": threading.active_count(), "fds": len(os.listdir("/proc/self/fd")),
        "stdio": (sys.stdin, sys.stdout, sys.stderr),
    }


def _restore_state(key: str, was: Any) -> None:
    """Put back what a line changed, so that the following lines start alike."""
    import resource

    import numpy as np

    if key == "cwd":
        os.chdir(was)
    elif key == "sys.path":
        sys.path[:] = was
    elif key == "environ":
        os.environ.clear()
        os.environ.update(was)
    elif key == "umask":
        os.umask(was)
    elif key == "numpy errstate":
        np.seterr(**was)
    elif key == "recursion limit":
        sys.setrecursionlimit(was)
    elif key == "rlimits":
        for r, lim in zip((resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_DATA, resource.RLIMIT_FSIZE),
                          was):
            try:
                resource.setrlimit(r, lim)
            except (ValueError, OSError):
                pass
    elif key == "signal handlers":
        for n, h in zip((signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGPIPE, signal.SIGXCPU,
                         signal.SIGCHLD), was):
            signal.signal(n, h if h is not None else signal.SIG_DFL)
    elif key == "timer":
        signal.setitimer(signal.ITIMER_REAL, 0)
    elif key == "stdio":
        sys.stdin, sys.stdout, sys.stderr = was


def _short(value: Any) -> str:
    if isinstance(value, dict) and len(value) > 8:
        return f"{len(value)} entries"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _command(args: list[str]) -> str | None:
    """The subcommand click will run: the first argument that is not an option."""
    for a in args:
        if a in ("render", "check", "gallery"):
            return a
        if a != "--" and not a.startswith("-"):
            return None
    return None


def _gallery_names() -> tuple[str, ...]:
    try:
        from graphviz_bp.gallery import EXAMPLES
    except Exception:  # noqa: BLE001 - the library may be mid-edit
        return ()
    return tuple(EXAMPLES)


def _text(result: Any, attr: str) -> str:
    try:
        return getattr(result, attr)
    except ValueError:  # click < 8.2 without mix_stderr=False
        return ""


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None,
                  line: Any = None) -> None:
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _library_frame(exc: BaseException) -> str:
    tb = exc.__traceback__
    where = "?"
    while tb is not None:
        fn = tb.tb_frame.f_code.co_filename
        if "graphviz_bp" in fn or "click" in fn:
            where = f"{Path(fn).name}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


# ==================================================================================================
# campaigns

@dataclass
class Summary:
    seed: int
    lines: int = 0
    seconds: float = 0.0
    by_exit: Counter = field(default_factory=Counter)
    by_gen: Counter = field(default_factory=Counter)
    by_gen_exit: Counter = field(default_factory=Counter)
    check_verdict_no: int = 0
    dot_calls: int = 0
    dot_lines: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)  # the first few of each signature
    signature_counts: Counter = field(default_factory=Counter)
    lazy_imports: dict[str, int] = field(default_factory=dict)
    slow: list[tuple[float, int, str]] = field(default_factory=list)
    allowed_calls: set[str] = field(default_factory=set)  # audited calls of the library's own, let through
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)  # signature -> first example
    note_counts: Counter = field(default_factory=Counter)

    KEEP = 3  # examples kept per signature

    def add(self, case: Case, out: Outcome) -> None:
        self.lines += 1
        code = "timeout/escaped" if out.exit_code is None else str(out.exit_code)
        self.by_exit[code] += 1
        self.by_gen[case.gen] += 1
        self.by_gen_exit[f"{case.gen}:{code}"] += 1
        self.check_verdict_no += out.check_failed
        self.dot_lines += case.dot
        for f in out.failures:
            self.signature_counts[f.signature] += 1
            if self.signature_counts[f.signature] <= self.KEEP:
                self.failures.append(asdict(f))
        for f in out.notes:
            self.note_counts[f.signature] += 1
            self.notes.setdefault(f.signature, asdict(f))
        if out.seconds > 1.0:
            self.slow.append((round(out.seconds, 2), case.index, command_line(case.args)[:300]))
            self.slow = sorted(self.slow, reverse=True)[:30]

    def merge(self, other: "Summary") -> None:
        self.lines += other.lines
        self.by_exit.update(other.by_exit)
        self.by_gen.update(other.by_gen)
        self.by_gen_exit.update(other.by_gen_exit)
        self.check_verdict_no += other.check_verdict_no
        self.dot_calls += other.dot_calls
        self.dot_lines += other.dot_lines
        for f in other.failures:
            if sum(1 for g in self.failures if g["signature"] == f["signature"]) < self.KEEP:
                self.failures.append(f)
        self.signature_counts.update(other.signature_counts)
        self.note_counts.update(other.note_counts)
        for k, v in other.notes.items():
            if k not in self.notes or v["index"] < self.notes[k]["index"]:
                self.notes[k] = v
        for k, v in other.lazy_imports.items():
            self.lazy_imports.setdefault(k, v)
        self.slow = sorted(self.slow + other.slow, reverse=True)[:30]
        self.allowed_calls |= other.allowed_calls

    @property
    def failure_count(self) -> int:
        return sum(self.signature_counts.values())

    def groups(self) -> list[dict[str, Any]]:
        """One entry per signature, most frequent first, with its first example."""
        first: dict[str, dict[str, Any]] = {}
        for f in sorted(self.failures, key=lambda f: f["index"]):
            first.setdefault(f["signature"], f)
        return [{"signature": s, "count": n, "kind": first[s]["kind"], "index": first[s]["index"],
                 "generator": first[s]["gen"], "command": first[s]["command"],
                 "exit_code": first[s]["exit_code"], "stderr": first[s]["stderr"], "detail": first[s]["detail"]}
                for s, n in self.signature_counts.most_common() if s in first]

    def to_json(self) -> dict[str, Any]:
        return {"seed": self.seed, "lines": self.lines, "seconds": round(self.seconds, 1),
                "lines_per_second": round(self.lines / self.seconds, 1) if self.seconds else None,
                "failures": self.failure_count, "distinct_failures": len(self.signature_counts),
                "code_executions": sum(n for s, n in self.signature_counts.items() if s.startswith("code execution")),
                "internal_errors": sum(n for s, n in self.signature_counts.items() if s.startswith("internal error")),
                "failures_by_kind": dict(sum((Counter({s.partition(": ")[0]: n})
                                              for s, n in self.signature_counts.items()), Counter())),
                "by_exit": dict(self.by_exit), "by_generator": dict(self.by_gen),
                "by_generator_and_exit": dict(sorted(self.by_gen_exit.items())),
                "check_verdict_no": self.check_verdict_no, "dot_calls": self.dot_calls,
                "lines_meant_for_dot": self.dot_lines, "lazy_imports": self.lazy_imports,
                "allowed_library_calls": sorted(self.allowed_calls),
                "slowest": self.slow, "failure_groups": self.groups(),
                "notes": [{"signature": s, "count": n, "index": self.notes[s]["index"],
                           "command": self.notes[s]["command"], "stderr": self.notes[s]["stderr"]}
                          for s, n in self.note_counts.most_common()]}

    def format_failures(self, limit: int = 40) -> str:
        out = []
        for g in self.groups()[:limit]:
            out.append(f"[{g['count']}x] {g['signature']}\n    line {g['index']} ({g['generator']}): "
                       f"{g['command'][:400]}\n    exit {g['exit_code']}, stderr: {g['stderr'][:300]!r}")
        return "\n".join(out)


def run_lines(runner: Runner, seed: int, indices: Iterable[int], dot_fraction: float,
              summary: Summary | None = None, progress: Any = None) -> Summary:
    summary = summary or Summary(seed)
    t0 = time.perf_counter()
    dot0 = runner.sandbox.dot_calls
    for i in indices:
        if progress is not None:
            progress(i)
        try:
            case = generate(seed, i, dot_fraction)
        except Exception as exc:  # noqa: BLE001 - the fuzzer's own bug: reported, not fatal
            case = Case(i, "generator", [])
            out = Outcome(None, "", "", 0.0)
            out.failures.append(Failure(i, "generator", "fuzzer bug", f"fuzzer bug: generate() raised "
                                        f"{type(exc).__name__}: {exc}", "", [], None, "", traceback.format_exc()))
            summary.add(case, out)
            continue
        summary.add(case, runner.run(case))
    summary.seconds += time.perf_counter() - t0
    summary.dot_calls += runner.sandbox.dot_calls - dot0
    for k, v in runner.sandbox.lazy_imports.items():
        summary.lazy_imports.setdefault(k, v)
    summary.allowed_calls |= runner.sandbox.allowed_ctypes
    return summary


def run_campaign(count: int, seed: int, root: Path, *, start: int = 0, dot_fraction: float = 0.0,
                 timeout: float = 20.0, bomb: bool = False) -> Summary:
    """A single-process campaign of ``count`` lines in the scratch directory ``root`` (for tests)."""
    cwd = os.getcwd()
    runner = Runner(root, timeout=timeout, bomb=bomb)
    try:
        return run_lines(runner, seed, range(start, start + count), dot_fraction)
    finally:
        runner.close()
        os.chdir(cwd)


# --------------------------------------------------------------------------------------------------
# workers (the script)

_WORKER: dict[str, Any] = {}


def _worker_init(base: str, timeout: float, memory_mb: int) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    if memory_mb:
        import resource
        lim = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
    root = Path(tempfile.mkdtemp(prefix=f"w{os.getpid()}-", dir=base))
    progress = open(Path(base) / f"progress-{os.getpid()}", "w")
    _WORKER.update(runner=Runner(root, timeout=timeout, watch_fds=True), progress=progress)


def _worker_chunk(task: tuple[int, int, int, float, frozenset[int]]) -> Summary:
    seed, lo, hi, dot_fraction, skip = task
    fh = _WORKER["progress"]

    def progress(i: int) -> None:
        fh.seek(0)
        fh.write(f"{i:>12}\n")
        fh.flush()

    summary = run_lines(_WORKER["runner"], seed, (i for i in range(lo, hi) if i not in skip), dot_fraction,
                        progress=progress)
    fh.seek(0)
    fh.write("        idle\n")  # not running a line: the watchdog leaves it alone
    fh.flush()
    return summary


def _confirm(args: argparse.Namespace, base: str, i: int) -> Summary | str:
    """Run line ``i`` alone in a fresh worker: its Summary, or why the worker died running it."""
    import concurrent.futures as cf
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    pool = cf.ProcessPoolExecutor(1, mp_context=mp.get_context("fork"), initializer=_worker_init,
                                  initargs=(base, args.timeout, args.memory_mb))
    try:
        fut = pool.submit(_worker_chunk, (args.seed, i, i + 1, args.dot_fraction, frozenset()))
        return fut.result(timeout=args.timeout * 3 + 60)
    except BrokenProcessPool:
        return "worker died: the process crashed or was killed (e.g. out of memory) running this line"
    except cf.TimeoutError:
        for proc in list(getattr(pool, "_processes", {}).values()):  # our own worker, by its pid
            os.kill(proc.pid, signal.SIGKILL)
        return f"hang: the line did not finish in {args.timeout * 3 + 60:g} s (wall clock); worker killed"
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _campaign_pool(args: argparse.Namespace) -> Summary:
    import concurrent.futures as cf
    import multiprocessing as mp
    from concurrent.futures.process import BrokenProcessPool

    base = tempfile.mkdtemp(prefix="gbp-fuzz-")
    total = Summary(args.seed)
    chunks = [(lo, min(lo + args.chunk, args.start + args.count))
              for lo in range(args.start, args.start + args.count, args.chunk)]
    pending = list(chunks)
    skip: set[int] = set()
    t0 = time.perf_counter()
    last = t0
    ctx = mp.get_context("fork")
    while pending:
        with cf.ProcessPoolExecutor(args.jobs, mp_context=ctx, initializer=_worker_init,
                                    initargs=(base, args.timeout, args.memory_mb)) as pool:
            futures = {pool.submit(_worker_chunk, (args.seed, lo, hi, args.dot_fraction, frozenset(skip))): (lo, hi)
                       for lo, hi in pending}
            try:
                for fut in _completed(futures, base, args.timeout * 3 + 60):
                    try:
                        total.merge(fut.result())
                    except BrokenProcessPool:
                        raise
                    except Exception as exc:  # noqa: BLE001 - the fuzzer's own bug: skip the chunk
                        lo, hi = futures[fut]
                        print(f"[fuzz] chunk {lo}..{hi} failed in the fuzzer itself: {type(exc).__name__}: "
                              f"{exc}", file=sys.stderr, flush=True)
                        total.signature_counts[f"fuzzer bug: {type(exc).__name__}"] += 1
                    pending.remove(futures[fut])
                    now = time.perf_counter()
                    if now - last > args.progress_every or not pending:
                        last = now
                        rate = total.lines / (now - t0)
                        print(f"[fuzz] {total.lines:,} lines, {rate:,.0f}/s, {total.failure_count} failures "
                              f"({len(total.signature_counts)} distinct), exits {dict(total.by_exit)}",
                              file=sys.stderr, flush=True)
            except BrokenProcessPool:
                # A worker died (a crash, killed for memory, or by the watchdog). The lines the workers
                # were running are suspects: each is run again alone; the one that dies again is a failure.
                suspects = []
                for p in Path(base).glob("progress-*"):
                    try:
                        i = int(p.read_text().strip() or -1)
                    except ValueError:
                        continue
                    p.unlink()
                    if i >= 0 and i not in skip and any(lo <= i < hi for lo, hi in pending):
                        suspects.append(i)
                print(f"[fuzz] a worker died; re-running lines {sorted(suspects)} alone", file=sys.stderr,
                      flush=True)
                for i in sorted(suspects):
                    skip.add(i)
                    res = _confirm(args, base, i)
                    if isinstance(res, Summary):
                        total.merge(res)
                        continue
                    case = generate(args.seed, i, args.dot_fraction)
                    out = Outcome(None, "", "", 0.0)
                    kind = res.partition(":")[0]
                    out.failures.append(Failure(i, case.gen, kind, res, command_line(case.args), case.args,
                                                None, ""))
                    total.add(case, out)
                    print(f"[fuzz] line {i}: {res}", file=sys.stderr, flush=True)
    total.seconds = time.perf_counter() - t0
    import shutil
    shutil.rmtree(base, ignore_errors=True)
    return total


def _completed(futures: dict[Any, Any], base: str, stale: float) -> Iterable[Any]:
    """``as_completed``, and a watchdog: a worker whose current line has run ``stale`` seconds (wall
    clock) is killed, which breaks the pool; the caller records that line."""
    import concurrent.futures as cf

    left = set(futures)
    while left:
        done, left = cf.wait(left, timeout=5, return_when=cf.FIRST_COMPLETED)
        yield from done
        now = time.time()
        for p in Path(base).glob("progress-*"):
            pid = int(p.name.split("-")[1])
            try:
                age = now - p.stat().st_mtime
                busy = p.read_text().strip() != "idle"
            except OSError:
                continue
            if busy and age > stale and _alive(pid):
                print(f"[fuzz] worker {pid} stuck on line {p.read_text().strip()} for {age:.0f} s: killing it",
                      file=sys.stderr, flush=True)
                os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _replay(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="gbp-fuzz-replay-"))
    runner = Runner(root, timeout=args.timeout)
    rc = 0
    for i in args.replay:
        case = generate(args.seed, i, args.dot_fraction)
        out = runner.run(case)
        print(f"line {i} ({case.gen}): {command_line(case.args)}")
        print(f"  args: {case.args!r}")
        print(f"  exit {out.exit_code} in {out.seconds:.3f} s")
        print(f"  stderr: {out.stderr!r}")
        print(f"  stdout: {out.stdout[:300]!r}{'...' if len(out.stdout) > 300 else ''}")
        for f in out.failures:
            rc = 1
            print(f"  FAILURE {f.signature}")
            if f.detail:
                print("    " + f.detail.replace("\n", "\n    "))
    runner.close()
    os.chdir(Path.home())
    import shutil
    shutil.rmtree(root, ignore_errors=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1_000_000, help="lines to run (default 1,000,000)")
    p.add_argument("--seed", type=int, default=0, help="campaign seed (default 0)")
    p.add_argument("--start", type=int, default=0, help="first line index (default 0)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--chunk", type=int, default=500, help="lines per task (default 500)")
    p.add_argument("--report", type=Path, default=None, help="write a JSON summary here")
    p.add_argument("--dot-fraction", type=float, default=DEFAULT_DOT_FRACTION,
                   help="share of lines that really run Graphviz (default 0.005)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before a line counts as hung (default 30)")
    p.add_argument("--memory-mb", type=int, default=8192, help="address-space limit per worker, MiB (0: none)")
    p.add_argument("--progress-every", type=float, default=30.0, help="seconds between progress lines")
    p.add_argument("--replay", type=int, nargs="+", default=None, metavar="INDEX",
                   help="run these line indices of --seed in-process and print everything")
    p.add_argument("--show", type=int, nargs="+", default=None, metavar="INDEX",
                   help="print the command lines of these indices without running them")
    args = p.parse_args(argv)
    if args.show:
        for i in args.show:
            c = generate(args.seed, i, args.dot_fraction)
            print(f"{i} {c.gen}: {command_line(c.args)}")
        return 0
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    if args.replay:
        return _replay(args)
    total = _campaign_pool(args)
    report = total.to_json()
    report["command"] = "tools/fuzz_cli.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    if args.report:
        args.report.write_text(json.dumps(report, indent=1, ensure_ascii=True) + "\n")
    print(f"{total.lines:,} lines in {total.seconds:.0f} s ({report['lines_per_second']}/s); exits "
          f"{dict(total.by_exit)}; check verdict NO: {total.check_verdict_no}; dot calls: {total.dot_calls}")
    print(f"code executions: {report['code_executions']}; internal errors: {report['internal_errors']}; "
          f"failures: {total.failure_count} ({len(total.signature_counts)} distinct)")
    if total.lazy_imports:
        print("modules imported lazily while fuzzing: " + ", ".join(sorted(total.lazy_imports)))
    if total.allowed_calls:
        print("the library's own audited calls, allowed: " + "; ".join(sorted(total.allowed_calls)))
    if total.failure_count:
        print(total.format_failures(limit=200))
    return 1 if total.failure_count else 0


if __name__ == "__main__":
    sys.exit(main())
