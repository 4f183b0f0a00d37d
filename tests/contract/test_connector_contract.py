"""The connector contract, from the library (``iko_shared.testing``), run against every case in ``cases.py``."""

from iko_shared.testing.contract_suite import *  # noqa: F403 - the suite's tests and fixture, collected here
