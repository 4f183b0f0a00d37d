import sys

from iko_audit.cli import main

if __name__ == "__main__":
    sys.exit(main())
