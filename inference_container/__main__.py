"""``python -m inference_container``: the worker image's command (see ``inference_container.cli``)."""

import sys

from inference_container.cli import main

sys.exit(main())
