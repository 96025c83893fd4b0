"""pyshark engine: tshark dissects (through pyshark's PDML), we pick the same fields.

The only analysis module that starts a process (tshark). Very slow on big
files (about 600 s per million packets); it exists as an independent
reference. Rows follow the same rules as decode.py: a TCP header directly
inside the first IPv4/IPv6 header (after at most MAX_IPV6_EXT extension
headers), which sits directly on the link layer (plus at most
MAX_VLAN_DEPTH VLAN tags); fragments and tunnels are not rows. Records
beyond those limits, with a bad TCP header length, or with a timestamp
int64 nanoseconds cannot hold are counted in the warnings as the other
engines count them. tshark numbers the frames, so frame numbers are its own.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..errors import CaptureFormatError
from . import damage
from .columns import packet_frame
from .decode import BEYOND_LIMITS, MAX_IPV6_EXT, limit_warnings
from .formats import INT64_MAX, INT64_MIN, PCAP_MAGICS, PCAPNG_SHB_MAGIC
from .linktypes import MAX_VLAN_DEPTH
from .table import PACKET_COLUMNS, ReadReport

Progress = Callable[[int, int], None]
#: pyshark layer names of the link layers we decode (linktypes.LINKTYPES), as tshark calls them.
LINK_LAYERS = {"eth", "sll", "null", "loop", "raw"}
#: tshark's layers for VLAN tags: 802.1Q (and 0x9100) is "vlan", the 802.1ad S-tag is "ieee8021ad". An
#: ieee8021ad layer holds one tag ("id") or, when an S-tag follows an S-tag, two ("svid", then "cvid").
VLAN_LAYERS = {"vlan", "ieee8021ad"}
VLAN_ID_FIELDS = ("id", "svid", "cvid")
#: Layers pyshark lists that are no header of the packet: the frame itself (pyshark takes the second
#: PDML element for frame_info, which is the comments element on a packet with a pcapng comment).
NOT_HEADERS = {"frame", "pkt_comment"}
#: _row's answer for a TCP segment whose fixed 20-byte header the snaplen cut (counted, as decode.py does).
HEADER_CUT = "header cut"
#: No reassembly: a fragment is not a TCP row (decode.py's rule), so tshark must not glue fragments together.
TSHARK_PREFS = {"tcp.analyze_sequence_numbers": "FALSE", "ip.defragment": "FALSE", "ipv6.defragment": "FALSE"}


def _is_fragment(ip) -> bool:
    more = ip.get_field_value("flags_mf") or ip.get_field_value("fraghdr_more") or "0"
    offset = ip.get_field_value("frag_offset") or ip.get_field_value("fraghdr_offset") or "0"
    return int(more) != 0 or int(offset) != 0


def _timestamp_ns(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    seconds, _, fraction = text.lstrip("-").partition(".")
    return sign * (int(seconds) * 10**9 + int((fraction + "000000000")[:9]))


def _frame_layer(pkt):
    return next(layer for layer in (pkt.frame_info, *pkt.layers) if layer.layer_name == "frame")


def _bad_timestamp(pkt) -> bool:
    """A packet (a frame with a link layer: not a pcapng custom or journal block) whose time int64 ns cannot hold."""
    info = _frame_layer(pkt)
    if not hasattr(info, "encap_type") or not hasattr(info, "time_epoch"):
        return False
    return not INT64_MIN <= _timestamp_ns(info.time_epoch) <= INT64_MAX


def _vlan_ids(layer) -> list[str]:
    """The VLAN ids of one tshark VLAN layer, in the order of the tags."""
    fields = []
    for name in VLAN_ID_FIELDS:
        container = layer.get_field(name)
        if container is not None:
            fields += [(int(field.pos), field.show) for field in container.all_fields]
    return [vid for _, vid in sorted(fields)]


def _ipv6_extensions(info) -> int:
    """IPv6 extension headers between the IPv6 header and TCP, from frame.protocols ('ipv6:ipv6.hopopts:ah:tcp')."""
    protocols = str(info.protocols).split(":")
    chain = protocols[protocols.index("ipv6") + 1 : protocols.index("tcp")] if "tcp" in protocols else []
    return sum(1 for name in chain if name.startswith("ipv6.") or name == "ah")


def _row(pkt) -> tuple | str | None:
    """The packet table row of one frame; else why not: HEADER_CUT or a BEYOND_LIMITS kind (None: not TCP)."""
    layers = [layer for layer in pkt.layers if layer.layer_name not in NOT_HEADERS]
    names = [layer.layer_name for layer in layers]
    if "tcp" not in names:
        return None
    tcp_at = names.index("tcp")
    before = names[:tcp_at]
    ip_layers = [n for n in before if n in ("ip", "ipv6")]
    if len(ip_layers) != 1 or before[-1] not in ("ip", "ipv6") or not set(before[:-1]) <= LINK_LAYERS | VLAN_LAYERS:
        return None
    info, ip, tcp = _frame_layer(pkt), layers[tcp_at - 1], layers[tcp_at]
    vlans = [vid for layer in layers[:tcp_at] if layer.layer_name in VLAN_LAYERS for vid in _vlan_ids(layer)]
    version = 4 if before[-1] == "ip" else 6
    if len(vlans) > MAX_VLAN_DEPTH:
        return "vlan_depth"
    if version == 6 and _ipv6_extensions(info) > MAX_IPV6_EXT:
        return "ipv6_extensions"
    if _is_fragment(ip):
        return None
    tcp_pos = int(tcp.get_field("srcport").pos)
    if int(info.cap_len) < tcp_pos + 20:
        return HEADER_CUT
    header = int(tcp.hdr_len)
    if header < 20 or not hasattr(tcp, "len"):  # tshark gives no tcp.len for a header past the IP payload
        return "tcp_header_length"
    seg_len = int(tcp.len)
    ts_ns = _timestamp_ns(info.time_epoch) if hasattr(info, "time_epoch") else 0  # a Simple Packet Block has none
    return (
        int(info.number), ts_ns, int(getattr(info, "interface_id", 0) or 0), ";".join(vlans), version,
        ip.src, ip.dst, int(tcp.srcport), int(tcp.dstport), int(tcp.flags, 16), int(tcp.seq_raw), int(tcp.ack_raw),
        seg_len, int(tcp.window_size_value), int(info.cap_len) < tcp_pos + header + seg_len,
    )


def _stopped(exc: Exception, records: int) -> str:
    """The warning when the dissection ends early: tshark stopped on damage, or pyshark failed on its output."""
    from pyshark.capture.capture import TSharkCrashException

    if isinstance(exc, TSharkCrashException):
        return f"tshark stopped after {records} records: {_last_line(exc)}"
    return (f"the pyshark engine cannot read frame {records + 1} as pyshark parses it ({type(exc).__name__}: "
            f"{_last_line(exc)}); stopped there: use --engine fast")


def _last_line(exc: Exception) -> str:
    """tshark's last error line from pyshark's exception, else the exception's first line (or its type)."""
    text = str(exc)
    lines = [line for line in text.splitlines() if line.startswith("Last error line:")]
    if lines:
        return lines[0].removeprefix("Last error line:").strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


def read(path: str | Path, progress: Progress | None = None) -> tuple[pd.DataFrame, ReadReport]:
    path = Path(path)
    if shutil.which("tshark") is None:
        raise CaptureFormatError("the pyshark engine needs tshark: apt-get install tshark (or use --engine fast)")
    with open(path, "rb") as f:
        head = f.read(4)
    if head not in PCAP_MAGICS and head != PCAPNG_SHB_MAGIC:
        raise damage.not_a_capture(path, head)
    rows, report, status_lost = _dissect(path, progress)
    if status_lost and report.records == 0:
        # Nothing read and tshark's exit status lost: an empty capture, or tshark refusing a damaged one?
        # Ask again; the race that loses the status (see _dissect) rarely strikes twice.
        rows, report, status_lost = _dissect(path, progress)
    report.tcp_packets = len(rows)
    if report.records == 0 and report.warnings:
        raise CaptureFormatError(f"{path}: no packet could be read: {report.warnings[0]}")
    columns = dict(zip(PACKET_COLUMNS, zip(*rows))) if rows else {name: [] for name in PACKET_COLUMNS}
    return packet_frame(columns), report


def _dissect(path: Path, progress: Progress | None) -> tuple[list[tuple], ReadReport, bool]:
    """(rows, report, whether tshark's exit status was lost) from one tshark run through pyshark."""
    import pyshark  # imported here: it is slow to import and only this engine needs it

    report = ReadReport(bytes_read=path.stat().st_size)
    rows: list[tuple] = []
    unlisted: dict[str, list[int]] = {}  # why frames gave no row (_take) -> their frame numbers
    status_lost = False
    loop = asyncio.new_event_loop()
    watcher, previous_watcher = _attach_safe_child_watcher(loop)
    capture = pyshark.FileCapture(str(path), keep_packets=False, override_prefs=TSHARK_PREFS, eventloop=loop)
    packets = iter(capture)
    try:
        while True:
            try:
                pkt = next(packets)
            except StopIteration:
                break
            except Exception as exc:  # tshark stopped on damage, or pyshark could not parse what it printed
                report.warnings.append(_stopped(exc, report.records))
                break
            report.records += 1
            _take(pkt, report.records, rows, report, unlisted)
            if progress is not None and report.records % 1000 == 0:
                progress(0, report.bytes_read)
    finally:
        try:
            capture.close()
        except Exception as exc:  # pyshark reports tshark's non-zero exit (damage) here
            # retcode 255 is asyncio's "unknown child": closing the transport reaped tshark before
            # asyncio's watcher thread could, and the real exit status is lost.
            status_lost = "retcode: 255" in str(exc)
            if not report.warnings and not status_lost:
                report.warnings.append(f"tshark stopped after {report.records} records: {_last_line(exc)}")
            capture._running_processes.clear()  # already reaped; keeps pyshark's __del__ from closing again
        if watcher is not None:
            watcher.attach_loop(None)  # gives SIGCHLD back
            _set_child_watcher(previous_watcher)  # other asyncio users in this process (a notebook) keep theirs
        loop.close()
    report.warnings.extend(_unlisted_warnings(unlisted))
    return rows, report, status_lost


#: _take's reasons besides HEADER_CUT and the BEYOND_LIMITS kinds
BAD_TIMESTAMP, UNREADABLE = "timestamp", "unreadable"


def _take(pkt, frame: int, rows: list[tuple], report: ReadReport, unlisted: dict[str, list[int]]) -> None:
    """Add the frame's row to ``rows``, or count why it gives none."""
    try:
        row = BAD_TIMESTAMP if _bad_timestamp(pkt) else _row(pkt)
    except (AttributeError, ValueError, StopIteration):  # a dissection this engine does not know: said, not hidden
        row = UNREADABLE
    if isinstance(row, tuple):
        rows.append(row)
        return
    if row != BAD_TIMESTAMP:
        report.non_tcp += 1
    if row is not None:
        unlisted.setdefault(row, []).append(frame)


def _unlisted_warnings(unlisted: dict[str, list[int]]) -> list[str]:
    """The other engines' warnings for the same counts, in their order (stream.py), and this engine's own."""
    counts = {kind: len(frames) for kind, frames in unlisted.items()}
    warnings = [damage.header_cut(counts[HEADER_CUT])] if HEADER_CUT in counts else []
    warnings += limit_warnings({kind: counts.get(kind, 0) for kind in BEYOND_LIMITS})
    if BAD_TIMESTAMP in unlisted:
        warnings.append(damage.unrepresentable_timestamps(counts[BAD_TIMESTAMP], unlisted[BAD_TIMESTAMP][0]))
    if UNREADABLE in unlisted:
        warnings.append(f"{counts[UNREADABLE]} records tshark dissected in a way the pyshark engine cannot read "
                        f"(first: frame {unlisted[UNREADABLE][0]}): not listed; try --engine fast")
    return warnings


def _attach_safe_child_watcher(loop: asyncio.AbstractEventLoop):
    """On the main thread, reap tshark with SIGCHLD + waitpid for known pids (what pyshark does with its own loop).

    asyncio's default ThreadedChildWatcher races with the transport's poll()
    when tshark exits at once (a damaged file): the status is lost ("unknown
    child ... returncode 255"). Returns (the watcher, the one it replaced);
    (None, None) where it is not used: off the main thread, and from Python
    3.14, which has no child watchers (read() retries instead).
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(asyncio, "SafeChildWatcher"):
        return None, None
    with warnings.catch_warnings():  # child watchers are deprecated from Python 3.12
        warnings.simplefilter("ignore", DeprecationWarning)
        previous = asyncio.get_child_watcher()
        watcher = asyncio.SafeChildWatcher()
        asyncio.set_child_watcher(watcher)
    watcher.attach_loop(loop)
    return watcher, previous


def _set_child_watcher(watcher) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_child_watcher(watcher)
