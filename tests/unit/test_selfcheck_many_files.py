"""The self-check of a bundle with many files: hashed on several threads, every one checked.

(tests/unit/test_selfcheck.py covers the small bundles; with eight files or more the
digests are computed on worker threads.)
"""

from __future__ import annotations

from pathlib import Path

from gateway_cli.supply import selfcheck


def _many(folder: Path, count: int = 12) -> tuple[Path, selfcheck.Manifest]:
    files = {}
    for i in range(count):
        path = folder / "lib" / f"part{i:02}.so"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i]) * (1000 + 300 * i))
        files[f"lib/part{i:02}.so"] = path
    return folder, selfcheck.make_manifest(files, {}, None)


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
