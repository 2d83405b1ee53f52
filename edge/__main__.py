"""`python -m edge` runs the command line."""

from __future__ import annotations

from edge.cli import main

raise SystemExit(main())
