"""``python -m neuropeft <step>``: the same command-line interface as ``neuropeft``."""

import sys

from neuropeft.cli import main

sys.exit(main())
