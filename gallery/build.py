"""Render the gallery: for each example, its DOT, SVG and PDF next to it, and gallery/README.md.

    python gallery/build.py            # all examples
    python gallery/build.py swish_net  # some
    python gallery/build.py --check    # exit 1 if a committed file differs from a fresh render
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

GALLERY = Path(__file__).resolve().parent
sys.path.insert(0, str(GALLERY.parent))

from graphviz_bp import gallery  # noqa: E402
from graphviz_bp.render import write_atomic  # noqa: E402


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
    stale = []
    for i, name in enumerate(names, 1):
        for fmt, data in gallery.load(name, GALLERY).outputs().items():
            path = GALLERY / f"{name}.{fmt}"
            if args.check:
                if not path.exists() or path.read_bytes() != data:
                    stale.append(path.name)
                continue
            write_atomic(path, data)
        if not args.check:
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
    print("gallery/README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
