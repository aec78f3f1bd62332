"""``python -m graphviz_bp``: the same as the ``graphviz-bp`` command."""

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command starts: no traceback, the shell's status
    raise SystemExit(130) from None

main(prog_name="graphviz-bp")
