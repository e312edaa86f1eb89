"""``python -m capsa``: the same entry point as the ``capsa`` console script."""
from __future__ import annotations

import sys

from capsa.cli.main import main  # the program entry: the only import of capsa.cli outside it

if __name__ == "__main__":
    sys.exit(main())
