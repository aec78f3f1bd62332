"""The ``graphviz-bp`` command line (click). Only this module imports click."""

from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphviz-bp")
def main() -> None:
    """Backpropagation diagrams from NumPy-style code."""


if __name__ == "__main__":  # pragma: no cover
    main()
