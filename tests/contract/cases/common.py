"""What every case shares: the test identifiers, the credentials the simulators are started with, checks."""

from __future__ import annotations

from iko_shared.contracts import FragmentProduced, Identifier
from iko_shared.testing.contract_kit import Check

BSN = Identifier(type="bsn", value="999993653")
UNKNOWN_BSN = Identifier(type="bsn", value="999990007")
KVK = Identifier(type="kvk", value="69599084")
UNKNOWN_KVK = Identifier(type="kvk", value="12345678")

API_KEY = "contract-key"
ZGW_SECRET = "contract-secret-long-enough-for-hs256-keys"


def http_status(status: int) -> Check:
    """The error names the status the source answered with."""

    def check(fragment: FragmentProduced) -> None:
        assert fragment.error is not None
        assert (fragment.error.details or {}).get("status") == status, fragment.error

    return check
