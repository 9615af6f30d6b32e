"""``python -m apcal``: the same as the ``apcal`` console script."""

import sys

from apcal.cli.main import console_main

sys.exit(console_main())
