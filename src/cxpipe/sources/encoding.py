"""Decoding text exports that are not clean UTF-8, and saying exactly where they were not.

Real exports mix code pages (the garden-centre survey has CP1252 and DOS CP850 bytes in
one file). Undecodable bytes are never a crash and never a dropped row: they are decoded
with a declared fallback code page if one is given, otherwise replaced with U+FFFD, and
every occurrence is reported by line and byte offset.
"""

from __future__ import annotations

import codecs
import gzip
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

_CHUNK = 1 << 20


@dataclass
class DecodeReport:
    path: str
    encoding: str
    fallback: str | None
    offsets: list[int] = field(default_factory=list)
    """Byte offsets (in the uncompressed stream) of bytes the declared encoding rejected."""
    lines: list[int] = field(default_factory=list)
    """1-based line numbers of those bytes."""

    def message(self, limit: int = 10) -> str:
        shown = ", ".join(str(n) for n in sorted(set(self.lines))[:limit])
        more = "" if len(set(self.lines)) <= limit else f" and {len(set(self.lines)) - limit} more"
        action = (
            f"decoded with fallback {self.fallback}"
            if self.fallback
            else "replaced with U+FFFD (set options.encoding_fallback to decode them)"
        )
        return (
            f"{self.path}: {len(self.offsets)} byte(s) not valid {self.encoding} on line(s) "
            f"{shown}{more}; {action}"
        )


def read_bytes(path: str) -> bytes:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as handle:
        data: bytes = handle.read()
    return data


def is_valid_utf8(path: str) -> bool:
    """Stream-check a (possibly gzipped) file without holding it in memory."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


_RECORDER: ContextVar[DecodeReport | None] = ContextVar("cxpipe_decode_report", default=None)


def _record_and_replace(exc: UnicodeError) -> tuple[str, int]:
    report = _RECORDER.get()
    if report is None or not isinstance(exc, UnicodeDecodeError):
        raise exc
    report.offsets.append(exc.start)
    bad = exc.object[exc.start : exc.end]
    text = bad.decode(report.fallback, errors="replace") if report.fallback else "\ufffd"
    return text, exc.end


codecs.register_error("cxpipe-report", _record_and_replace)


def decode(path: str, encoding: str, fallback: str | None = None) -> tuple[str, DecodeReport]:
    """Decode a whole file in one pass, recording every byte the declared encoding rejects."""
    data = read_bytes(path)
    report = DecodeReport(path=Path(path).name, encoding=encoding, fallback=fallback)
    token = _RECORDER.set(report)
    try:
        text = data.decode(encoding, errors="cxpipe-report")
    finally:
        _RECORDER.reset(token)
    line, last = 1, 0
    for offset in report.offsets:  # offsets ascend, so lines are counted in one sweep
        line += data.count(b"\n", last, offset)
        last = offset
        report.lines.append(line)
    return text, report
