"""The command line a service manager runs: this gateway, as it is running now."""

from __future__ import annotations

import sys
from pathlib import Path


def gateway_prefix() -> list[str]:
    """The frozen binary itself, or this interpreter with the package: the venv's python
    path is kept as it is (not resolved), since resolving it would leave the venv."""
    executable = str(Path(sys.executable).absolute())
    if getattr(sys, "frozen", False):
        return [executable]
    return [executable, "-m", "gateway_cli"]
