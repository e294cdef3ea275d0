"""``python -m worldsim`` runs the command line."""

import sys

from worldsim.cli import main

sys.exit(main())
