"""`python -m ops.models`: see ops/models/cli.py."""

import sys

from ops.models.cli import main

sys.exit(main())
