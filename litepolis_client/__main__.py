"""Run the ``litepolis-client`` command as ``python -m litepolis_client``."""

import sys

from litepolis_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
