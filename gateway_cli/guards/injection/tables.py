"""The detector table the guard runs: the hand-written rows joined to their generated starts.

A row's starts are found by the hash of its regex (`pattern_key`): a regex
changed without running scripts/generate-injection-tables again has none, so
its detector runs one plain pass of the regex (slower, never wrong) until the
generator is run, and the unit test that regenerates starts.py fails meanwhile.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Final

from gateway_cli.guards.injection import detectors_en, detectors_ml
from gateway_cli.guards.injection.detector import Detector
from gateway_cli.guards.injection.prefilter import Prefilter, parse_start
from gateway_cli.guards.injection.starts import STARTS

ROWS: Final = detectors_en.DETECTORS + detectors_ml.DETECTORS


def pattern_key(det: Detector) -> str:
    """What starts.py files a detector's starts under: a short sha256 of its regex and flags."""
    source = f"{det.pattern.flags}:{det.pattern.pattern}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(source).hexdigest()[:16]


def _with_starts(det: Detector) -> Detector:
    specs = STARTS.get(pattern_key(det))
    return det if specs is None else replace(det, starts=tuple(map(parse_start, specs)))


DETECTORS: Final = tuple(map(_with_starts, ROWS))
PREFILTER: Final = Prefilter(DETECTORS)
