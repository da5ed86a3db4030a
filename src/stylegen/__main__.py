"""`python -m stylegen` runs the command-line interface (see cli.py)."""

from stylegen.cli import main

raise SystemExit(main())
