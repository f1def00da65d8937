"""`python -m odradek.cli ...`: the same entry point as the `odradek` console script."""

from odradek.cli.main import main

raise SystemExit(main())
