"""Command-line parsing inside the sandbox: training scripts (pytorch/examples' dcgan, mnist) parse their options
at top level, with some of them required (`--dataset`, `--dataroot`). ParamLens runs the file with no arguments,
as `python file.py` would; argparse would then print its usage and exit, and nothing after it (the model) would
be built. Here a parse that fails is done again with the required options made optional (they come out as None
or their default), and the report says which ones, so the model-building code that only reads the other options
still runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable


def install_tolerant_argparse(path: str, emit: Callable[[dict[str, Any]], None]) -> None:
    sys.argv = [path]
    original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        try:
            return original(self, args, namespace)
        except SystemExit:
            required = [action for action in self._actions if action.required]
            if not required:
                raise  # `--help`, a wrong type: the script really stops there
            for action in required:
                action.required = False
            try:
                result = original(self, args, namespace)
            finally:
                for action in required:
                    action.required = True
            emit({"t": "note", "kind": "argparse",
                  "options": [(action.option_strings or [action.dest])[0] for action in required]})
            return result

    argparse.ArgumentParser.parse_known_args = parse_known_args  # type: ignore[method-assign]
