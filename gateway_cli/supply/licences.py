"""The licence an installed distribution declares, as far as its metadata says.

Why from the running environment: a lock records names, versions and hashes
but never licences, and asking PyPI would make the SBOM depend on the network.
So the installed METADATA is read, and only when its version is the locked
one, in PEP 639's order of authority: `License-Expression`; else a short
`License` field; else the `License ::` trove classifiers. A long licence text,
"UNKNOWN" or a package that is not installed (a Windows-only wheel on Linux)
gives nothing: the SBOM omits what it does not know rather than guess.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message
from importlib import metadata

from packaging.utils import canonicalize_name

from gateway_cli.supply.model import same_version

# SPDX ids we may emit as ids: each is in the SPDX list bundled with CycloneDX 1.6.
KNOWN_IDS = frozenset({
    "0BSD", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "CC0-1.0", "GPL-2.0-only",
    "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ISC",
    "LGPL-2.1-only", "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later", "MIT",
    "MIT-0", "MPL-2.0", "PSF-2.0", "Python-2.0", "Unlicense", "Zlib",
})
# Classifiers that name exactly one SPDX licence; the others ("BSD License",
# "Apache Software License") do not say which version, so they stay names.
_CLASSIFIER_IDS = {
    "OSI Approved :: MIT License": "MIT",
    "OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "OSI Approved :: ISC License (ISCL)": "ISC",
    "OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "OSI Approved :: zlib/libpng License": "Zlib",
    "OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)":
        "LGPL-3.0-or-later",
    "OSI Approved :: GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
}
_MAX_NAME = 80
_OPERATOR = re.compile(r"^(AND|OR|WITH)$")


@dataclass(frozen=True)
class Declared:
    """Either one SPDX expression, or licences each given as an SPDX id or a name."""

    expression: str | None = None
    ids: tuple[str, ...] = ()
    names: tuple[str, ...] = ()


def _from_field(text: str) -> Declared | None:
    value = text.strip()
    if not value or "\n" in value or len(value) > _MAX_NAME or value.upper() == "UNKNOWN":
        return None
    tokens = value.replace("(", " ").replace(")", " ").split()
    licences = [t for t in tokens if not _OPERATOR.match(t)]
    if licences and all(t in KNOWN_IDS for t in licences):
        return Declared(ids=(value,)) if len(tokens) == 1 else Declared(expression=value)
    return Declared(names=(value,))


def _from_classifiers(classifiers: list[str]) -> Declared | None:
    ids: list[str] = []
    names: list[str] = []
    for classifier in classifiers:
        what = classifier.removeprefix("License ::").strip()
        if not classifier.startswith("License ::") or not what:
            continue
        if what in _CLASSIFIER_IDS:
            ids.append(_CLASSIFIER_IDS[what])
        else:
            names.append(what)
    if not ids and not names:
        return None
    return Declared(ids=tuple(sorted(set(ids))), names=tuple(sorted(set(names))))


def declared(meta: Message) -> Declared | None:
    """The licence a METADATA file declares, or None when it says nothing usable."""
    expression = (meta.get("License-Expression") or "").strip()
    if expression:
        return Declared(expression=expression)
    return _from_field(meta.get("License") or "") or _from_classifiers(
        meta.get_all("Classifier") or [])


def installed(name: str, version: str) -> Declared | None:
    """What the installed `name` declares, if it is installed at exactly `version`."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    if canonicalize_name(dist.metadata["Name"] or "") != canonicalize_name(name) \
            or not same_version(dist.version, version):
        return None
    return declared(dist.metadata)  # type: ignore[arg-type]
