"""`python -m synthd ...`, the same as the `synthd` command."""

import sys

from synthd.cli import main

sys.exit(main())
