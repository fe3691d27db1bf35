"""``python -m Tests.xsoar_local run <command> ...``: see Tests/xsoar_local/runner.py."""
import sys

from Tests.xsoar_local.runner import main

if __name__ == '__main__':
    sys.exit(main())
