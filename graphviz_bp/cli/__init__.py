"""The ``graphviz-bp`` command line (click); only this package imports click.

``app`` is the program (its group, one-line errors, warnings, ``--debug``); ``params`` the options
the commands share, generated from their declarations where they have one; ``commands`` the
``render``, ``check``, ``derive`` and ``gallery`` commands (``derivations`` formats what ``derive``
prints). Every failure ends in one line on stderr: usage
errors exit 2, domain errors exit 1; ``--debug`` shows the traceback instead. The package may import
the public API and the front-end helpers (``frontend``, ``expr``, ``check``), never the core's
internals directly.
"""

from __future__ import annotations

from .app import main
from .commands import check, derive, gallery, markdown_image, render

__all__ = ["check", "derive", "gallery", "main", "markdown_image", "render"]
