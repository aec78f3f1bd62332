"""The gallery: examples (one Python file each, in the source tree's ``gallery/``) rendered to files.

An example file defines ``loss``, ``inputs()``, ``graph()`` and ``OPTIONS`` (drawing options); its
docstring's first line is its title and the rest says what to see. ``gallery/build.py`` and the CLI's
``gallery`` command both use this module.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from .api import Drawing

__all__ = ["EXAMPLES", "Example", "default_dir", "load", "readme"]

#: The examples, in the order the gallery shows them.
EXAMPLES = ("autoencoder", "autoencoder_right", "swish_net", "shared_x", "gplvm", "rnn", "softmax_ce",
            "autoencoder_formulas", "swish_formulas", "gplvm_formulas", "check_derivation", "deep_mlp", "long_rnn")
FORMATS = ("dot", "svg", "pdf", "html")  # html: the interactive page
#: PDFs carry this fixed date so that re-rendering an unchanged example changes no committed byte.
SOURCE_DATE_EPOCH = "946684800"


def default_dir() -> Path:
    """``gallery/`` of the source tree this package was installed from ($GRAPHVIZ_BP_GALLERY wins)."""
    env = os.environ.get("GRAPHVIZ_BP_GALLERY")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "gallery"


@dataclass(frozen=True)
class Example:
    name: str
    module: ModuleType

    @property
    def title(self) -> str:
        return (inspect.getdoc(self.module) or self.name).partition("\n")[0].strip()

    @property
    def description(self) -> str:
        return (inspect.getdoc(self.module) or "").partition("\n")[2].strip()

    @property
    def options(self) -> dict[str, Any]:
        return dict(getattr(self.module, "OPTIONS", {}))

    @property
    def notes(self) -> str:
        """Markdown computed by the example (formulas and verdicts, each checked when it is built),
        shown under its picture; empty when it has none."""
        notes = getattr(self.module, "notes", None)
        return notes().strip() if notes is not None else ""

    def drawing(self) -> Drawing:
        d = self.module.graph().draw(**self.options)
        d.title = self.title
        return d

    def outputs(self) -> dict[str, bytes]:
        """The example's files, by suffix: DOT source, SVG, PDF and the interactive page."""
        os.environ.setdefault("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        d = self.drawing()
        return {fmt: d.to_dot().encode("utf-8") if fmt == "dot" else d.pipe(fmt) for fmt in FORMATS}


def load(name: str, directory: Path | None = None) -> Example:
    """The example ``name`` from ``directory`` (default: ``default_dir()``)."""
    directory = directory or default_dir()
    path = directory / f"{name}.py"
    if name not in EXAMPLES or not path.is_file():
        where = f"in {directory}" if directory.is_dir() else (
            f"{directory} does not exist; the gallery ships with the source tree (set "
            f"GRAPHVIZ_BP_GALLERY to its gallery/ folder)")
        raise LookupError(f"no gallery example {name!r} {where}; the examples are {', '.join(EXAMPLES)}")
    spec = importlib.util.spec_from_file_location(f"graphviz_bp_gallery_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Example(name, module)


def readme(examples: list[Example]) -> str:
    """gallery/README.md: each picture with its code and what to see in it."""
    parts = [
        "# Gallery\n",
        "Each picture is rendered by `make gallery` (or `graphviz-bp gallery --all`) from the Python "
        "file beside it. Nodes show the value's name or operation, its shape and its forward value; "
        "every edge shows its local Jacobian's shape (J) and the backward message that flows along "
        "it (▲, in red, or in its own colour where a value is used more than once). Hover over the "
        "SVG for the full arrays. The last four examples are drawn with `detail=\"formulas\"`: each "
        "message as a formula of ḡ (the cotangent of the value the edge enters), each checked against "
        "the numbers before it is drawn, and what is written under them is computed and checked the "
        "same way when the gallery is built. Each example also has an interactive page (its `.html` "
        "file, self-contained: download it and open it in a browser) that steps through the backward "
        "pass message by message.\n",
    ]
    for ex in examples:
        code = inspect.getsource(ex.module.loss).rstrip()
        opts = "".join(f", {k}={v!r}" for k, v in ex.options.items())
        parts.append(
            f"## {ex.title}\n\n{ex.description}\n\n![{ex.title}]({ex.name}.svg)\n\n"
            + (f"{ex.notes}\n\n" if ex.notes else "") +
            f"```python\n{code}\n\ng = gb.trace(loss, **inputs())\ng.render(\"{ex.name}.svg\"{opts})\n```\n\n"
            f"Files: [{ex.name}.py]({ex.name}.py) · [SVG]({ex.name}.svg) · [PDF]({ex.name}.pdf) · "
            f"[DOT]({ex.name}.dot) · [interactive page]({ex.name}.html) (step through the backward pass)\n"
        )
    return "\n".join(parts)
