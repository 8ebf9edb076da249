"""Static side of the analysis: parse with libcst, recognize parameter patterns, slice and instrument.

Each recognizer module handles one pattern and exposes ``recognize(node, ctx) -> list[Finding]``; the walker
visits the tree once and asks every recognizer about every node.
"""
