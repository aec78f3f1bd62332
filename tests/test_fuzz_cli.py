"""A bounded, deterministic run of the CLI fuzzer (tools/fuzz_cli.py), and checks of the fuzzer itself.

The release runs the long campaign: ``python tools/fuzz_cli.py --count 1000000 --report FILE``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import click
import pytest

_PATH = Path(__file__).resolve().parent.parent / "tools" / "fuzz_cli.py"
_spec = importlib.util.spec_from_file_location("fuzz_cli", _PATH)
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_cli"] = fuzz  # dataclasses look their module up
_spec.loader.exec_module(fuzz)

SEED = 20240611
LINES = 600


def test_a_bounded_campaign_finds_nothing(tmp_path):
    summary = fuzz.run_campaign(LINES, SEED, tmp_path, dot_fraction=0.0, timeout=20.0)
    assert summary.lines == LINES
    assert set(summary.by_gen) == set(fuzz.GENERATORS), summary.by_gen
    assert {"0", "1", "2"} <= set(summary.by_exit), summary.by_exit  # the lines reach every outcome
    assert summary.failure_count == 0, (
        f"{summary.failure_count} failing line(s) of {LINES} (seed {SEED}); replay one with "
        f"`python tools/fuzz_cli.py --seed {SEED} --replay INDEX`:\n" + summary.format_failures())


def test_a_few_lines_really_run_graphviz(tmp_path, dot_executable):
    # Lines meant for dot: find two in the campaign's sequence and run them.
    picked = [i for i in range(20000) if fuzz.generate(SEED, i, dot_fraction=0.05).dot][:2]
    summary = fuzz.Summary(SEED)
    cwd = os.getcwd()
    runner = fuzz.Runner(tmp_path, bomb=False)
    try:
        fuzz.run_lines(runner, SEED, picked, 0.05, summary)
    finally:
        runner.close()
        os.chdir(cwd)
    assert summary.dot_calls >= 1
    assert summary.failure_count == 0, summary.format_failures()


def test_lines_are_reproducible_and_stay_in_the_sandbox():
    a = [fuzz.generate(7, i) for i in range(3000)]
    b = [fuzz.generate(7, i) for i in range(3000)]
    assert [c.args for c in a] == [c.args for c in b]
    assert {c.gen for c in a} == set(fuzz.GENERATORS)
    for c in a:
        assert "--debug" not in c.args
        for arg in c.args:
            for part in (arg, arg.partition("=")[2], arg[2:] if arg.startswith("-o") else ""):
                p = part.lstrip("@")
                assert not (p.startswith("/") and not p.startswith("/dev/null")), (c.index, c.args)
                assert not ("/" in arg and "/../" in f"/{arg}/"), (c.index, c.args)


@click.command()
@click.argument("what")
def _bad_cli(what: str) -> None:
    """A CLI that breaks the contract in the ways the checker must notice."""
    if what == "two-lines":
        click.echo("graphviz-bp: error: one", err=True)
        click.echo("and another", err=True)
        sys.exit(2)
    if what == "exit3":
        sys.exit(3)
    if what == "raise":
        raise RuntimeError("escaped")
    if what == "internal":
        click.echo("graphviz-bp: error: internal error: KeyError: 'x'", err=True)
        sys.exit(1)
    if what == "eval":
        eval("1 + 1")  # code execution from library code
    if what == "canary":
        Path(fuzz.CANARY_FILES[0]).write_text("")
    if what == "env":
        os.environ[fuzz.CANARY_ENV] = "1"
    if what == "noise":
        click.echo("progress 50%", err=True)
    if what == "leave":
        Path("partial.svg").write_text("<svg")
        click.echo("graphviz-bp: error: failed", err=True)
        sys.exit(1)


@pytest.mark.parametrize("what,kind", [
    ("two-lines", "2 stderr lines on exit 2"), ("exit3", "bad exit code"), ("raise", "exception escaped"),
    ("internal", "internal error"), ("eval", "code execution"), ("canary", "code execution"),
    ("env", "code execution"), ("noise", "unexpected stderr on success"),
    ("leave", "file left behind by a failure"),
])
def test_the_checker_notices_each_breach(tmp_path, what, kind):
    cwd = os.getcwd()
    runner = fuzz.Runner(tmp_path, bomb=False)
    runner.main = _bad_cli
    try:
        out = runner.run(fuzz.Case(0, "self-test", [what]))
    finally:
        runner.close()
        os.chdir(cwd)
    assert kind in [f.kind for f in out.failures], out


def test_the_checker_accepts_the_contract(tmp_path):
    cwd = os.getcwd()
    runner = fuzz.Runner(tmp_path, bomb=False)
    try:
        ok = runner.run(fuzz.Case(0, "self-test", ["check", "sum(x*x)", "-i", "x=3"]))
        usage = runner.run(fuzz.Case(1, "self-test", ["render", "sum(x)", "-o", "-"]))
        model = runner.run(fuzz.Case(2, "self-test", ["check", "model.py:loss", "-i", "W=3x5", "-i", "x=5"]))
    finally:
        runner.close()
        os.chdir(cwd)
    assert (ok.exit_code, ok.failures) == (0, [])
    assert usage.exit_code == 2 and usage.failures == []
    assert model.failures == [], model  # running the fixture model.py is intended, not flagged
