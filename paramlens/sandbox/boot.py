"""`python -I .../paramlens/sandbox/boot.py MODULE ARGS...`: run a ParamLens module from this very copy of the
package, in an interpreter that may not have ParamLens installed (see launch.py). Standard library only: nothing
of ParamLens is importable until this has registered the package."""

import importlib.util
import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path and os.path.abspath(sys.path[0] or ".") == HERE:
    del sys.path[0]  # Python < 3.11 puts the script's directory first: its modules must not shadow the user's
ROOT = os.path.dirname(HERE)
spec = importlib.util.spec_from_file_location("paramlens", os.path.join(ROOT, "__init__.py"),
                                              submodule_search_locations=[ROOT])
package = importlib.util.module_from_spec(spec)
sys.modules["paramlens"] = package
spec.loader.exec_module(package)
module = sys.argv[1]
sys.argv = [module] + sys.argv[2:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
