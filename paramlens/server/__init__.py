"""The language server: pygls over stdio (or TCP for debugging). Thin by design: `server.py` wires LSP requests to
the scheduler (which runs `analyze` off the event loop) and to the pure converters in `features.py`."""
