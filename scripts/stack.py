#!/usr/bin/env python3
"""``stack.py up|down|status``: the IKO stack as background processes.

The logic lives in ``scripts/iko_stack.py`` so tests can import it; ``--help`` lists the options.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
main: Callable[[], int] = importlib.import_module("iko_stack").main

if __name__ == "__main__":
    raise SystemExit(main())
