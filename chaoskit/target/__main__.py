"""``python -m chaoskit.target``: run the built-in target HTTP service (configured by env)."""

import sys

from chaoskit.target.app import main

sys.exit(main())
