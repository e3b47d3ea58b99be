"""`python -m gankit` (and `torchrun -m gankit`) runs the CLI."""

import sys

from gankit.cli import main

sys.exit(main())
