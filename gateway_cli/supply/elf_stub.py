"""What the Linux release binary loads and runs before any Python: its ELF stub.

The self-check's manifest covers every file the bootloader unpacks and the
code archive, all of which travel inside the executable's `pydata` section.
Left out were the bootloader itself (the code that runs first) and any bytes
added after the ELF's last part. This module reads just enough of an ELF64
file to close both gaps, without reading the archive:

- `loaded_digest`: a sha256 over what the kernel and the dynamic loader act
  on (file type, machine, entry point, and each PT_LOAD, PT_INTERP and
  PT_DYNAMIC segment: its flags, addresses, sizes and bytes, less the
  header's section-table fields, which the loader does not read). The build
  records it from PyInstaller's bootloader before the archive is attached;
  attaching the archive (a non-loaded section) leaves it unchanged.
- `elf_end`: the offset where the ELF's last part ends (section data,
  section header table, segments); anything after it was appended.

Pure reading, bounded: headers and segments only (a bootloader is about
100 KB), never the archive.
"""

from __future__ import annotations

import hashlib
import struct
from typing import BinaryIO

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_SHT_NOBITS = 8
_MAX_SEGMENT = 64 * 1024 * 1024


class NotElf(ValueError):
    """The file is not a 64-bit little-endian ELF this check understands."""


def _header(handle: BinaryIO) -> tuple[int, ...]:
    handle.seek(0)
    head = handle.read(64)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        raise NotElf("not a 64-bit little-endian ELF file")
    # e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize,
    # e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    return struct.unpack_from("<HHIQQQIHHHHHH", head, 16)


def _table(handle: BinaryIO, offset: int, size: int, count: int, layout: str, smallest: int,
           most: int, what: str) -> list[tuple[int, ...]]:
    """The entries of a header table, each unpacked with `layout`; refused when implausible."""
    if size < smallest or count > most:
        raise NotElf(f"implausible {what} table")
    handle.seek(offset)
    table = handle.read(size * count)
    if len(table) < size * count:
        raise NotElf(f"truncated {what} table")
    return [struct.unpack_from(layout, table, i * size) for i in range(count)]


def _program_headers(handle: BinaryIO, head: tuple[int, ...]) -> list[tuple[int, ...]]:
    # p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align
    return _table(handle, head[4], head[8], head[9], "<IIQQQQQQ", 56, 256, "program header")


def loaded_digest(handle: BinaryIO) -> str:
    """sha256 of everything the loader acts on (see the module docstring)."""
    head = _header(handle)
    digest = hashlib.sha256()
    digest.update(struct.pack("<HHQ", head[0], head[1], head[3]))
    for p_type, flags, offset, vaddr, _, filesz, memsz, _ in _program_headers(handle, head):
        if p_type not in (_PT_LOAD, _PT_DYNAMIC, _PT_INTERP):
            continue
        if filesz > _MAX_SEGMENT:
            raise NotElf("implausibly large segment")
        handle.seek(offset)
        data = bytearray(handle.read(filesz))
        if len(data) < filesz:
            raise NotElf("truncated segment")
        if offset < 64:
            # The ELF header is loaded with the first segment; its section-table fields
            # (e_shoff, e_shnum, e_shstrndx) change when the archive section is attached,
            # and the loader never reads them.
            for start, stop in ((40, 48), (60, 64)):
                lo, hi = max(start - offset, 0), max(stop - offset, 0)
                data[lo:hi] = bytes(len(data[lo:hi]))
        digest.update(struct.pack("<IIQQQ", p_type, flags, vaddr, filesz, memsz))
        digest.update(data)
    return digest.hexdigest()


def elf_end(handle: BinaryIO) -> int:
    """Where the ELF's last part ends: bytes past this offset were appended to it."""
    head = _header(handle)
    shoff, shentsize, shnum = head[5], head[10], head[11]
    end = 64
    for _, _, offset, _, _, filesz, _, _ in _program_headers(handle, head):
        end = max(end, offset + filesz)
    end = max(end, head[4] + head[8] * head[9])
    if shnum:
        end = max(end, shoff + shentsize * shnum)
        # sh_name, sh_type, sh_flags, sh_addr, sh_offset, sh_size
        for _, sh_type, _, _, sh_offset, sh_size in _table(
                handle, shoff, shentsize, shnum, "<IIQQQQ", 64, 65535, "section header"):
            if sh_type != _SHT_NOBITS:
                end = max(end, sh_offset + sh_size)
    return end
