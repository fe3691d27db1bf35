"""``python -m Tests.demo [--step]``: see Tests/demo/demo.py."""
import sys

from Tests.demo.demo import main

if __name__ == '__main__':
    sys.exit(main())
