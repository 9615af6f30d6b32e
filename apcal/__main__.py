"""``python -m apcal``: the same as the ``apcal`` console script."""

import sys

from apcal.cli.main import main

sys.exit(main())
