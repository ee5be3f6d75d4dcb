"""``python -m chaoskit.standin``: run the built-in target HTTP service (configured by env)."""

import sys

from chaoskit.standin.app import main

sys.exit(main())
