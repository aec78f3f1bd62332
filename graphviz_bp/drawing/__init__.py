"""The drawing stage: from a traced graph and its backward pass to a picture.

It owns how things look: the drawing options, declared once (``options``); the Scene, a plain-data
description of what is drawn (``scene``); how numbers, shapes and names are written and escaped
(``text``); building the Scene from the graph and its backward pass (``annotate``); and turning the
Scene into DOT, and DOT into SVG, PDF or PNG through Graphviz (``render``, the only module that
imports ``graphviz``). It reads what earlier stages produced and never recomputes it: it may import
``graph``, ``backward``, ``ops`` and ``errors`` (and ``render`` the process and file helpers ``dot``
and ``files``), never ``tracer`` or a front end (``api``, ``cli``, ``sphinx``, ``expr``...).
Within the stage, ``render`` reads only the Scene and ``text``.
"""
