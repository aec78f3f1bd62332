"""Render the gallery: for each example, its DOT, SVG and PDF next to it, and gallery/README.md.

    python gallery/build.py            # all examples
    python gallery/build.py swish_net  # some
    python gallery/build.py --check    # exit 1 if a committed file differs from a fresh render
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys
from pathlib import Path
from types import ModuleType

GALLERY = Path(__file__).resolve().parent
sys.path.insert(0, str(GALLERY.parent))

import graphviz_bp as gb  # noqa: E402

#: The examples, in the order the gallery shows them.
EXAMPLES = ("autoencoder", "autoencoder_right", "swish_net", "shared_x")
FORMATS = ("dot", "svg", "pdf")
#: Fixed PDF timestamps, so that re-rendering an unchanged example changes no committed byte.
os.environ.setdefault("SOURCE_DATE_EPOCH", "946684800")


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"gallery_{name}", GALLERY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drawing(name: str) -> gb.Drawing:
    module = load(name)
    return module.graph().draw(**module.OPTIONS)


def outputs(name: str) -> dict[str, bytes]:
    """The files an example renders to, by suffix."""
    d = drawing(name)
    return {fmt: d.to_dot().encode("utf-8") if fmt == "dot" else d.pipe(fmt) for fmt in FORMATS}


def readme() -> str:
    parts = [
        "# Gallery\n",
        "Each picture is rendered by `make gallery` from the Python file beside it "
        "(`python gallery/build.py`). Nodes show the value's name or operation, its shape and its "
        "forward value; every edge shows its local Jacobian's shape (J) and the backward message "
        "that flows along it (◀, in red, or in its own colour where a value is used more than "
        "once). Hover over the SVG for the full arrays.\n",
    ]
    for name in EXAMPLES:
        module = load(name)
        title, _, body = inspect.getdoc(module).partition("\n")
        code = inspect.getsource(module.loss).rstrip()
        call = f"g = gb.trace(loss, **inputs())\ng.render(\"{name}.svg\"{_kwargs(module.OPTIONS)})"
        parts.append(
            f"## {title}\n\n{body.strip()}\n\n![{title}]({name}.svg)\n\n"
            f"```python\n{code}\n\n{call}\n```\n\n"
            f"Files: [{name}.py]({name}.py) · [SVG]({name}.svg) · [PDF]({name}.pdf) · "
            f"[DOT]({name}.dot)\n"
        )
    return "\n".join(parts)


def _kwargs(options: dict) -> str:
    return "".join(f", {k}={v!r}" for k, v in options.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"examples to render (default: all): {', '.join(EXAMPLES)}")
    parser.add_argument("--check", action="store_true",
                        help="render in memory and report committed files that differ")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in EXAMPLES]
    if unknown:
        parser.error(f"no example named {', '.join(unknown)}; the examples are {', '.join(EXAMPLES)}")
    names = args.names or list(EXAMPLES)
    stale = []
    for i, name in enumerate(names, 1):
        for fmt, data in outputs(name).items():
            path = GALLERY / f"{name}.{fmt}"
            if args.check:
                if not path.exists() or path.read_bytes() != data:
                    stale.append(path.name)
                continue
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.replace(path)
        if not args.check:
            print(f"[{i}/{len(names)}] gallery/{name}: {', '.join(FORMATS)}")
    text = readme()
    if args.check:
        if (GALLERY / "README.md").read_text(encoding="utf-8") != text:
            stale.append("README.md")
        if stale:
            print("out of date (run `make gallery`): " + ", ".join(stale), file=sys.stderr)
            return 1
        print("gallery is up to date")
        return 0
    (GALLERY / "README.md").write_text(text, encoding="utf-8")
    print("gallery/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
