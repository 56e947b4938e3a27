"""``python -m testing``: the test commands (``testing.cli``)."""

import sys

from testing.cli import main

sys.exit(main())
