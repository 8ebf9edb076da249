"""A transformers-shaped test package (see tests/packages/README.md). Like transformers, importing the package
does not import the model files; the auto registry is filled as each model file is imported."""

__version__ = "0.1"
