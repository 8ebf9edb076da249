"""ParamLens: explains PyTorch parameter code with the real numbers torch produced.

The one entry point is :func:`paramlens.analysis.analyze`; the CLI (and later the language server) only schedule
it and render the :class:`paramlens.report.FileReport` it returns.
"""

__version__ = "0.1.0"
