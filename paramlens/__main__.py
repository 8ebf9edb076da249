"""`python -m paramlens ...` is the same as the `paramlens` console script."""

from paramlens.cli import main

raise SystemExit(main())
