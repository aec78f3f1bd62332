"""``python -m graphviz_bp``: the same as the ``graphviz-bp`` command."""

from .cli import main

main(prog_name="graphviz-bp")
