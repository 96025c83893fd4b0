"""Bytes on the wire for a body size: the server's HTTP head, measured from the capture.

The packet table carries no payload, so the head is read here from the first
server data segment with scapy (already a dependency; loaded lazily, only
for the threshold probe). What the handler's write puts into the stream:

    Content-Length:  head + body
    chunked:         head + "<hex size>\\r\\n" + body + "\\r\\n"

(the terminating ``0\\r\\n\\r\\n`` chunk comes only when the handler has
returned, so it is not part of the handler's write). For the seed scenario
that is 130 + 8061 + 2 = 8193 bytes: one byte more than two 4096-byte flushes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

HEAD_END = b"\r\n\r\n"
CRLF = b"\r\n"


@dataclass(frozen=True)
class ResponseHead:
    head_bytes: int  #: status line + headers + the blank line
    chunked: bool  #: Transfer-Encoding: chunked
    chunk_line_bytes: int  #: "<hex size>\r\n" of the first chunk (0 when not chunked)
    status_line: str

    def wire_bytes(self, body: int) -> int:
        """Stream bytes the handler's write of ``body`` bytes produces (module docstring)."""
        framing = self.chunk_line_bytes + len(CRLF) if self.chunked and body > 0 else 0
        return self.head_bytes + framing + body


def parse_head(payload: bytes) -> ResponseHead | None:
    """The head of an HTTP/1.x response from the first bytes of the server's stream."""
    end = payload.find(HEAD_END)
    if not payload.startswith(b"HTTP/") or end < 0:
        return None
    head = payload[: end + len(HEAD_END)]
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if ":" in line)}
    chunked = "chunked" in headers.get("transfer-encoding", "").lower()
    chunk_line = 0
    if chunked:
        rest = payload[len(head) :]
        line_end = rest.find(CRLF)
        chunk_line = line_end + len(CRLF) if line_end > 0 else 0
    return ResponseHead(head_bytes=len(head), chunked=chunked, chunk_line_bytes=chunk_line, status_line=lines[0])


def first_server_payload(pcap: Path, server_port: int, segments: int = 8) -> bytes | None:
    """The server's first data bytes: up to ``segments`` data segments from ``server_port``, in capture order
    (enough for a head that a small write size split; loopback does not reorder)."""
    from scapy.layers.inet import TCP  # lazy: scapy takes a second to import
    from scapy.utils import PcapReader

    parts: list[bytes] = []
    with PcapReader(str(pcap)) as packets:
        for packet in packets:
            if TCP in packet and packet[TCP].sport == server_port and bytes(packet[TCP].payload):
                parts.append(bytes(packet[TCP].payload))
                if len(parts) >= segments:
                    break
    return b"".join(parts) or None


def measure_head(pcap: Path, server_port: int) -> ResponseHead | None:
    payload = first_server_payload(pcap, server_port) if Path(pcap).exists() else None
    return parse_head(payload) if payload else None
