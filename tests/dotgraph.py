"""Reading a drawing's DOT in tests: pydot lists a subgraph's nodes only under that subgraph, and a
drawing puts each group's nodes in a (nested) cluster."""

from __future__ import annotations


def all_nodes(graph):
    """Every node statement of ``graph`` (a pydot graph), in clusters at any depth too."""
    out, stack = [], [graph]
    while stack:
        g = stack.pop(0)
        out += g.get_nodes()
        stack += g.get_subgraphs()
    return out


def clusters(graph):
    """Every cluster subgraph of ``graph`` (a group's frame), at any depth."""
    out, stack = [], list(graph.get_subgraphs())
    while stack:
        g = stack.pop(0)
        if g.get_name().strip('"').startswith("cluster_"):
            out.append(g)
        stack += g.get_subgraphs()
    return out


def frame_title(frame):
    """The title of a frame (a cluster subgraph): its label, or, for a folded block's frame, whose
    title is a node at its top (``title_`` and the frame's id), that node's label."""
    label = str(frame.get("label") or "")
    if label.strip('"'):
        return label
    name = "title_" + frame.get_name().strip('"')[len("cluster_"):]
    for node in frame.get_nodes():
        if node.get_name().strip('"') == name:
            return str(node.get("label") or "")
    return label
