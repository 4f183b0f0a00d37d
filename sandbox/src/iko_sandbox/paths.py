"""Where the simulators find their data files."""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    # The package is installed editable from sandbox/src, so the data sits two levels up;
    # IKO_SANDBOX_DATA_DIR lets a packaged install point elsewhere.
    override = os.environ.get("IKO_SANDBOX_DATA_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2] / "data"


def data_file(*parts: str) -> Path:
    return data_dir().joinpath(*parts)
