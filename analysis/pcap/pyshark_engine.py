"""pyshark engine: tshark dissects (through pyshark's PDML), we pick the same fields.

The only analysis module that starts a process (tshark). Very slow on big
files (about 600 s per million packets); it exists as an independent
reference. Rows follow the same rules as decode.py: a TCP header directly
inside the first IPv4/IPv6 header, which sits directly on the link layer
(plus VLAN tags); fragments and tunnels are not rows.
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
from .formats import PCAP_MAGICS, PCAPNG_SHB_MAGIC
from .table import PACKET_COLUMNS, ReadReport

Progress = Callable[[int, int], None]
#: pyshark layer names of the link layers we decode (linktypes.LINKTYPES), as tshark calls them.
LINK_LAYERS = {"eth", "sll", "null", "loop", "raw"}
#: tshark's layers for VLAN tags: 802.1Q (and 0x9100) is "vlan", the 802.1ad S-tag is "ieee8021ad".
VLAN_LAYERS = {"vlan", "ieee8021ad"}
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


def _row(pkt) -> tuple | None:
    names = [layer.layer_name for layer in pkt.layers]
    if "tcp" not in names:
        return None
    tcp_at = names.index("tcp")
    before = names[:tcp_at]
    ip_layers = [n for n in before if n in ("ip", "ipv6")]
    if len(ip_layers) != 1 or before[-1] not in ("ip", "ipv6") or not set(before[:-1]) <= LINK_LAYERS | VLAN_LAYERS:
        return None
    version = 4 if before[-1] == "ip" else 6
    ip = pkt.layers[tcp_at - 1]
    tcp = pkt.layers[tcp_at]
    if _is_fragment(ip):
        return None
    if not hasattr(tcp, "flags") or not hasattr(tcp, "hdr_len"):
        return None  # header cut before the flags: not a row (decode.py counts it as cut)
    vlans = ";".join(layer.id for layer in pkt.layers[:tcp_at] if layer.layer_name in VLAN_LAYERS)
    info = pkt.frame_info
    seg_len, header = int(tcp.len), int(tcp.hdr_len)
    tcp_pos = int(tcp.get_field("srcport").pos)
    return (
        int(info.number), _timestamp_ns(info.time_epoch), int(getattr(info, "interface_id", 0) or 0), vlans, version,
        ip.src, ip.dst, int(tcp.srcport), int(tcp.dstport), int(tcp.flags, 16), int(tcp.seq_raw), int(tcp.ack_raw),
        seg_len, int(tcp.window_size_value), int(info.cap_len) < tcp_pos + header + seg_len,
    )


def _last_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.startswith("Last error line:")]
    return lines[0].removeprefix("Last error line:").strip() if lines else str(exc).splitlines()[0]


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
    status_lost = False
    loop = asyncio.new_event_loop()
    watcher, previous_watcher = _attach_safe_child_watcher(loop)
    capture = pyshark.FileCapture(str(path), keep_packets=False, override_prefs=TSHARK_PREFS, eventloop=loop)
    try:
        for pkt in capture:
            report.records += 1
            row = _row(pkt)
            if row is None:
                report.non_tcp += 1
            else:
                rows.append(row)
            if progress is not None and report.records % 1000 == 0:
                progress(0, report.bytes_read)
    except Exception as exc:  # tshark stopped on damage (pyshark raises when tshark exits non-zero)
        report.warnings.append(f"tshark stopped after {report.records} records: {_last_line(exc)}")
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
    return rows, report, status_lost


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
