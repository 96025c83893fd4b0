"""How every engine words and handles damaged input (part 7: clear errors, nothing lost).

Rules, the same for all engines:
- not a pcap/pcapng file, or its file/section header is broken: CaptureFormatError;
- a record header cut short, a record running past the end of the file, a
  caplen above MAX_CAPLEN, a pcapng block with a bad length, an unknown
  interface id: stop there, keep every row before it, add a warning that
  names the byte offset;
- if that damage leaves no record at all: CaptureFormatError;
- timestamps are never rejected: ts_ns = seconds * 1e9 + fraction * tick,
  even when the fraction is out of range (>= 1 s, as in tcpdump's
  timestamp_invalid tests), computed in wrapping int64 arithmetic; such
  records get one summary warning;
- a pcapng timestamp that int64 nanoseconds cannot hold (before 1677 or
  after 2262: a huge if_tsoffset or tick count) is a damaged record: it is
  left out (its frame number stays taken), counted in one warning, and
  reading goes on;
- a file that cannot be read at all (permissions, an I/O error): CaptureFormatError.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import CaptureFormatError
from .formats import MAX_CAPLEN, UNSUPPORTED_MAGICS
from .table import ReadReport


def not_a_capture(path: str | Path, head: bytes) -> CaptureFormatError:
    if head[:4] in UNSUPPORTED_MAGICS:
        return CaptureFormatError(f"{path}: {UNSUPPORTED_MAGICS[head[:4]]} files are not supported")
    if len(head) < 4:
        return CaptureFormatError(f"{path}: not a pcap or pcapng file (only {len(head)} bytes)")
    return CaptureFormatError(f"{path}: not a pcap or pcapng file (magic {head[:4].hex()})")


def header_cut_short(path: str | Path, what: str, have: int, need: int) -> CaptureFormatError:
    return CaptureFormatError(f"{path}: {what} cut short ({have} of {need} bytes)")


def record_too_big(offset: int, caplen: int) -> str:
    return f"damaged record at byte offset {offset}: it claims {caplen} captured bytes (more than {MAX_CAPLEN}); stopped reading there"


def record_cut_short(offset: int, have: int, need: int) -> str:
    return f"file truncated at byte offset {offset}: last record has {have} of {need} bytes; stopped reading there"


def bad_block(offset: int, why: str) -> str:
    return f"damaged block at byte offset {offset}: {why}; stopped reading there"


def unreadable(path: str | Path, exc: OSError) -> CaptureFormatError:
    return CaptureFormatError(f"{path}: cannot read the capture file: {exc.strerror or exc}")


def header_cut(count: int) -> str:
    return f"{count} TCP segments had their 20-byte TCP header cut by the snaplen; not listed"


def unrepresentable_timestamps(count: int, first_frame: int) -> str:
    return (f"{count} records have a timestamp that int64 nanoseconds cannot hold (before 1677 or after 2262; "
            f"first: frame {first_frame}): damaged, not listed")


def packet_block_too_short(offset: int) -> str:
    return bad_block(offset, "packet block too short")


def captured_length_past_block(offset: int, caplen: int) -> str:
    return bad_block(offset, f"captured length {caplen} runs past its block")


def unknown_interface(offset: int, iface: int, interfaces: int) -> str:
    return bad_block(offset, f"unknown interface id {iface}" if interfaces else "packet before any interface description")


def bad_timestamps(count: int, first_frame: int) -> str:
    return (
        f"{count} records have a sub-second timestamp field out of range (first: frame {first_frame}); "
        "their ts_ns is seconds*1e9 + field*tick, past the second"
    )


def finish(path: str | Path, report: ReadReport) -> None:
    """Raise when damage left nothing at all; otherwise the warnings carry it."""
    if report.records == 0 and report.warnings:
        raise CaptureFormatError(f"{path}: no packet could be read: {report.warnings[0]}")
