"""Real text found on this machine, written out as a folder of documents for the benchmarks."""

from __future__ import annotations

import glob
from pathlib import Path

# Prose documentation that ships with Debian and Python packages: real, varied, license-clean.
SOURCES = (
    "/usr/share/vim/vim*/doc/*.txt",
    "/usr/share/cmake-*/Help/**/*.rst",
    "/usr/share/perl/*/pod/*.pod",
    "/usr/share/doc/**/*.txt",
    "/usr/share/common-licenses/*",
)


def build(
    out: Path, *, target_bytes: int, max_file_bytes: int = 60_000, min_file_bytes: int = 2_000
) -> list[Path]:
    """Copy real text files into ``out`` (as .txt/.rst/.md) until ``target_bytes`` are collected."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    total = 0
    for pattern in SOURCES:
        for src in sorted(glob.glob(pattern, recursive=True)):
            path = Path(src)
            if not path.is_file():
                continue
            data = path.read_bytes()[:max_file_bytes]
            if len(data) < min_file_bytes or b"\x00" in data[:4096]:
                continue
            suffix = path.suffix if path.suffix in (".rst", ".md", ".txt") else ".txt"
            dest = out / f"{len(written):04d}-{path.stem[:40]}{suffix}"
            dest.write_bytes(data)
            written.append(dest)
            total += len(data)
            if total >= target_bytes:
                return written
    return written
