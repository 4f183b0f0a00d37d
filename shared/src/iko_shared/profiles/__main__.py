import sys

from iko_shared.profiles.loader import main

sys.exit(main())
