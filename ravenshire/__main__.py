"""``python -m ravenshire`` (see :mod:`ravenshire.cli`)."""

import sys

from ravenshire.cli import main

sys.exit(main())
