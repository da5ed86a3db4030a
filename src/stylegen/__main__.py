"""`python -m stylegen` runs the command-line interface (see the commands package)."""

from stylegen.commands import main

raise SystemExit(main())
