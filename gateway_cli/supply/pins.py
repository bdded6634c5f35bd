"""Publisher pinning: trust on first use, then refuse any silent change.

Provenance proves *who* published an artifact, which is only useful when we
know who *should* have. The first time a project is seen with verified
provenance, its Trusted Publisher (repository, workflow, environment) is
pinned. From then on:

- a different publisher is refused: a fork or a hijacked account publishing
  with its own CI still produces valid Sigstore signatures;
- a release with no provenance is refused: that is how the LiteLLM
  1.82.7/1.82.8 uploads looked, made with a stolen token outside the
  project's trusted-publishing workflow;

unless a person lists the project in `accepted` (`--accept-change NAME`)
after checking that the maintainers really moved or stopped publishing with
provenance. Then the pin follows the new publisher, or is dropped.

Pure: the caller says what it observed (from verified provenance only) and
receives the new pins plus the refusals; nothing here reads or writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from typing import Literal

import msgspec
from packaging.utils import canonicalize_name

from gateway_cli.supply.provenance import PublisherPin

RefusalKind = Literal["publisher-changed", "provenance-dropped", "publishers-disagree"]


class Observation(msgspec.Struct, frozen=True):
    """One artifact of a project as just verified: its publisher, or None for no provenance."""

    project: str
    filename: str
    publisher: PublisherPin | None


class Refusal(msgspec.Struct, frozen=True):
    project: str
    filename: str
    kind: RefusalKind
    message: str


class PinUpdate(msgspec.Struct, frozen=True):
    """The pins to keep, and what changed or was refused on the way."""

    pins: dict[str, PublisherPin]
    new: tuple[str, ...]
    changed: tuple[str, ...]
    dropped: tuple[str, ...]
    refusals: tuple[Refusal, ...]

    @property
    def ok(self) -> bool:
        return not self.refusals


def reconcile(pinned: Mapping[str, PublisherPin], observed: Iterable[Observation],
              accepted: Set[str] = frozenset()) -> PinUpdate:
    """Apply the pinning rules to everything observed; projects not observed keep their pin."""
    by_project: dict[str, list[Observation]] = {}
    for obs in observed:
        by_project.setdefault(str(canonicalize_name(obs.project)), []).append(obs)
    accept = {str(canonicalize_name(name)) for name in accepted}
    pins: dict[str, PublisherPin] = {str(canonicalize_name(k)): v for k, v in pinned.items()}
    new: list[str] = []
    changed: list[str] = []
    dropped: list[str] = []
    refusals: list[Refusal] = []
    for project, observations in sorted(by_project.items()):
        outcome = _project(project, pins.get(project), observations, project in accept)
        refusals.extend(outcome.refusals)
        if outcome.refusals:
            continue
        if outcome.pin is None:
            if pins.pop(project, None) is not None:
                dropped.append(project)
        elif project not in pins:
            pins[project] = outcome.pin
            new.append(project)
        elif pins[project] != outcome.pin:
            pins[project] = outcome.pin
            changed.append(project)
    return PinUpdate(dict(sorted(pins.items())), tuple(new), tuple(changed), tuple(dropped),
                     tuple(refusals))


class _Outcome(msgspec.Struct, frozen=True):
    pin: PublisherPin | None
    refusals: tuple[Refusal, ...]


def _project(project: str, pin: PublisherPin | None, observations: list[Observation],
             accepted: bool) -> _Outcome:
    publishers = sorted({o.publisher for o in observations if o.publisher is not None},
                        key=lambda p: (p.kind, p.repository, p.workflow, p.environment or ""))
    missing = [o.filename for o in observations if o.publisher is None]
    if len(publishers) > 1:
        names = "; ".join(p.describe() for p in publishers)
        return _Outcome(pin, tuple(
            Refusal(project, o.filename, "publishers-disagree",
                    f"{project}: artifacts in one lock come from different publishers ({names}); "
                    "one of them is not the project's: remove the artifact that does not "
                    "belong from the lock, then pin again")
            for o in observations if o.publisher is not None and o.publisher != publishers[0]))
    found = publishers[0] if publishers else None
    if pin is not None and found is not None and not same_publisher(pin, found):
        if not accepted:
            return _Outcome(pin, tuple(
                Refusal(project, o.filename, "publisher-changed",
                        f"{project}: {o.filename} was published by {found.describe()}, but "
                        f"{project} is pinned to {pin.describe()}; a new publisher is what a "
                        "fork or a hijacked account looks like: keep the previous version, and "
                        "only if the maintainers announced the move, run pin again with "
                        f"--accept-change {project}")
                for o in observations if o.publisher is not None))
        pin = None  # accepted: the new publisher replaces the old pin below
    # The publisher that provenance must keep coming from: the pin, else (first sight) the
    # one found now, since artifacts without provenance beside it are the same warning sign.
    expected = pin or found
    if missing and expected is not None:
        if not accepted:
            return _Outcome(pin, tuple(_dropped(project, name, expected) for name in missing))
        return _Outcome(None, ())
    if pin is None:
        return _Outcome(found, ())
    # Same publisher; an environment seen for the first time tightens the pin.
    tighter = found is not None and pin.environment is None and found.environment is not None
    return _Outcome(found if tighter else pin, ())


def same_publisher(pin: PublisherPin, found: PublisherPin) -> bool:
    """Same kind, repository and workflow; the environment too when the pin names one."""
    return ((pin.kind, pin.repository, pin.workflow) == (found.kind, found.repository,
                                                          found.workflow)
            and (pin.environment is None or pin.environment == found.environment))


def _dropped(project: str, filename: str, pin: PublisherPin) -> Refusal:
    return Refusal(project, filename, "provenance-dropped", (
        f"{project}: {filename} has NO provenance, but {project} publishes with "
        f"{pin.describe()}; an upload that bypasses the trusted publisher is how the "
        "LiteLLM 1.82.7/1.82.8 compromise looked: keep the previous version, and only if "
        f"the maintainers confirm they stopped using trusted publishing, run pin again with "
        f"--accept-change {project}"))
