"""``python -m nn``: the same command line as ``tapegrad``."""

from nn.cli import main

raise SystemExit(main())
