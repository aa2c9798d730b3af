"""``python -m fnn``: the ``fnn`` command line (see :mod:`fnn.cli`)."""

import sys

from fnn.cli import main

sys.exit(main())
