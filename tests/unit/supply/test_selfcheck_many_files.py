"""The self-check of a bundle with many files: hashed on several threads, every one checked.

(tests/unit/supply/test_selfcheck.py covers the small bundles; with eight files or more the
digests are computed on worker threads.)
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec
import pytest

from gateway_cli.supply import build_manifest, bundle_records, selfcheck


def _many(folder: Path, count: int = 12) -> tuple[Path, bundle_records.Manifest]:
    files = {}
    for i in range(count):
        path = folder / "lib" / f"part{i:02}.so"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i]) * (1000 + 300 * i))
        files[f"lib/part{i:02}.so"] = path
    return folder, build_manifest.make_manifest(files, {}, None)


def test_a_sealed_bundle_of_many_files_is_checked_in_full(tmp_path: Path) -> None:
    bundle, manifest = _many(tmp_path)
    problems, checked, size = selfcheck.check_files(bundle, manifest)
    assert problems == []
    assert checked == 12
    assert size == sum(1000 + 300 * i for i in range(12))


def test_each_changed_file_of_many_is_named(tmp_path: Path) -> None:
    bundle, manifest = _many(tmp_path)
    for name in ("part00.so", "part07.so", "part11.so"):
        target = bundle / "lib" / name
        data = bytearray(target.read_bytes())
        data[-1] ^= 0x01  # same size
        target.write_bytes(bytes(data))
    problems, checked, size = selfcheck.check_files(bundle, manifest)
    assert [(p.check, p.path) for p in problems] == [
        ("self.changed", f"lib/{n}") for n in ("part00.so", "part07.so", "part11.so")]
    assert all("changed (sha256" in p.message for p in problems)
    assert checked == 12
    assert size == sum(1000 + 300 * i for i in range(12) if i not in (0, 7, 11))


def test_a_build_record_with_a_field_this_version_does_not_know_is_refused(
        tmp_path: Path) -> None:
    dist: dict[str, object] = {"name": "click", "version": "8.1.8", "record_sha256": "0" * 64}
    record: dict[str, object] = {
        "version": 1, "gateway": "0.1.0", "commit": None, "source_date_epoch": None,
        "python": "3.11.7", "platform": "linux x86_64", "pyinstaller": "6.22.3",
        "distributions": [dist], "excluded": []}
    path = tmp_path / bundle_records.BUILD_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.encode(record))
    assert bundle_records.load_build_info(tmp_path).distributions[0].name == "click"
    for extra in ({**record, "hooks": []},
                  {**record, "distributions": [{**dist, "url": "https://example.invalid"}]}):
        path.write_bytes(msgspec.json.encode(extra))
        with pytest.raises(msgspec.ValidationError, match="unknown field"):
            bundle_records.load_build_info(tmp_path)


def test_the_whole_file_digest_covers_every_byte(tmp_path: Path) -> None:
    """file_sha256 (the binary's digest, compared with the signed checksum) reads in chunks."""
    path = tmp_path / "gateway"
    data = bytes(range(256)) * (5 * 4096 + 3)  # a little over 5 MiB: several chunks
    path.write_bytes(data)
    assert bundle_records.sha256_file(path) == hashlib.sha256(data).hexdigest()
