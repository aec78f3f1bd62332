"""Render the gallery: for each example, its DOT, SVG, PDF and interactive page next to it, and gallery/README.md.

    python gallery/build.py            # all examples
    python gallery/build.py swish_net  # some
    python gallery/build.py --check    # exit 1 if a committed file is out of date

The DOT source and the README are compared byte for byte with a fresh render. SVG and PDF bytes
(and the page, which holds an SVG) depend on the Graphviz version, so they are not: ``manifest.json`` records, for each, its SHA-256
and that of the DOT it was rendered from, and ``--check`` verifies that each is valid, unchanged
since it was rendered, and rendered from the current DOT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

GALLERY = Path(__file__).resolve().parent
sys.path.insert(0, str(GALLERY.parent))

from graphviz_bp import gallery  # noqa: E402
from graphviz_bp.drawing.render import write_atomic  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"examples to render (default: all): {', '.join(gallery.EXAMPLES)}")
    parser.add_argument("--check", action="store_true",
                        help="render in memory and report committed files that differ")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in gallery.EXAMPLES]
    if unknown:
        parser.error(f"no example named {', '.join(unknown)}; the examples are {', '.join(gallery.EXAMPLES)}")
    names = args.names or list(gallery.EXAMPLES)
    manifest_path = GALLERY / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.exists() else {}
    stale = []
    for i, name in enumerate(names, 1):
        outputs = gallery.load(name, GALLERY).outputs()
        if args.check:
            stale += _stale(name, outputs["dot"], manifest, outputs["html"])
            continue
        for fmt, data in outputs.items():
            write_atomic(GALLERY / f"{name}.{fmt}", data)
        dot_hash = _sha(outputs["dot"])
        manifest[name] = {fmt: {"sha256": _sha(outputs[fmt]), "from_dot": dot_hash} for fmt in RENDERED}
        print(f"[{i}/{len(names)}] gallery/{name}: {', '.join(gallery.FORMATS)}")
    text = gallery.readme([gallery.load(n, GALLERY) for n in gallery.EXAMPLES])
    readme = GALLERY / "README.md"
    if args.check:
        if not readme.exists() or readme.read_text(encoding="utf-8") != text:
            stale.append("README.md")
        if stale:
            print("out of date (run `make gallery`): " + ", ".join(stale), file=sys.stderr)
            return 1
        print("gallery is up to date")
        return 0
    write_atomic(readme, text.encode("utf-8"))
    manifest = {n: manifest[n] for n in gallery.EXAMPLES if n in manifest}
    write_atomic(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8"))
    print("gallery/README.md, gallery/manifest.json")
    return 0


RENDERED = ("svg", "pdf", "html")  # bytes that depend on the Graphviz version (the page holds an SVG)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _stale(name: str, fresh_dot: bytes, manifest: dict, fresh_page: bytes = b"") -> list[str]:
    """The files of example ``name`` that are not current: the DOT unless it equals ``fresh_dot``;
    an SVG, PDF or page that is invalid, changed since rendering, or rendered from another DOT; a
    page whose steps (its JSON, which no Graphviz writes) are not those of ``fresh_page``."""
    dot = GALLERY / f"{name}.dot"
    if not dot.exists() or dot.read_bytes() != fresh_dot:
        return [dot.name] + [f"{name}.{fmt}" for fmt in RENDERED]
    stale = []
    for fmt in RENDERED:
        path = GALLERY / f"{name}.{fmt}"
        entry = manifest.get(name, {}).get(fmt, {})
        data = path.read_bytes() if path.exists() else b""
        if not (_valid(fmt, data) and entry.get("sha256") == _sha(data)
                and entry.get("from_dot") == _sha(fresh_dot)
                and (fmt != "html" or not fresh_page or _steps(data) == _steps(fresh_page) is not None)):
            stale.append(path.name)
    return stale


def _steps(page: bytes) -> bytes | None:
    """The interactive page's data: the JSON of its steps, values and messages (None: it has none)."""
    start = page.find(b'<script type="application/json" id="walk">')
    return None if start < 0 else page[start:page.find(b"</script>", start)]


def _valid(fmt: str, data: bytes) -> bool:
    if fmt == "pdf":
        return data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    if fmt == "html":
        return data.startswith(b"<!DOCTYPE html>") and b'<script type="application/json" id="walk">' in data \
            and data.rstrip().endswith(b"</html>")
    try:
        return ET.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"
    except ET.ParseError:
        return False


if __name__ == "__main__":
    sys.exit(main())
