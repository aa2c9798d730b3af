"""``python -m fnn.cli``: the ``fnn`` command line."""

import sys

from fnn.cli import main

sys.exit(main())
