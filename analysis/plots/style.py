"""Colours, markers and label templates: data tables, one place for all three plots.

Colours are the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"),
distinguishable under the common colour-vision deficiencies; every kind also
differs by marker shape or line style, so a grey-scale print still reads.

Packets are coloured by *what they are* (FIN, RST, data ...), not by direction:
the arrow already shows the direction, and the reader looks for "the red one".
Events on a lane are styled per ``(source, kind)``; :func:`event_style` falls
back to the source's default so an unknown kind still draws.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Okabe-Ito, by name.
PALETTE = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#7F7F7F",
}

#: One colour per direction (time-sequence graph, lane timeline packet lanes).
DIRECTION_COLOURS = {"client": PALETTE["blue"], "server": PALETTE["orange"]}

#: Background of a highlighted (causal-chain) row and of the chain badges.
HIGHLIGHT_FILL = PALETTE["yellow"]
BREAK_COLOUR = PALETTE["grey"]

FONT_SIZE = 8.0
SMALL_FONT_SIZE = 7.0
TITLE_FONT_SIZE = 10.0
LABEL_MAX_CHARS = 30


@dataclass(frozen=True)
class PacketStyle:
    colour: str
    linestyle: str
    linewidth: float
    legend: str


#: Packet kind -> how its arrow looks.
PACKET_STYLES: dict[str, PacketStyle] = {
    "SYN": PacketStyle(PALETTE["grey"], "-", 1.0, "SYN / SYN-ACK"),
    "SYN-ACK": PacketStyle(PALETTE["grey"], "-", 1.0, "SYN / SYN-ACK"),
    "ACK": PacketStyle(PALETTE["grey"], ":", 1.0, "pure ACK"),
    "DATA": PacketStyle(PALETTE["blue"], "-", 1.6, "data"),
    "FIN": PacketStyle(PALETTE["reddish_purple"], "-", 1.8, "FIN"),
    "RST": PacketStyle(PALETTE["vermillion"], "-", 2.2, "RST"),
}
UNKNOWN_PACKET = PacketStyle(PALETTE["black"], "-", 1.0, "packet")


@dataclass(frozen=True)
class EventStyle:
    marker: str  # matplotlib marker
    colour: str
    legend: str  # legend entry; events sharing a legend share one entry
    label: str  # str.format template over the row (len, errno, detail, new_state, old_state, kind, source)
    short: str  # shorter template for the lane timeline


#: Source -> default style when ``(source, kind)`` is not listed below.
SOURCE_DEFAULTS: dict[str, EventStyle] = {
    "syscall": EventStyle("o", PALETTE["black"], "other", "{kind}()", "{kind}"),
    "kernel": EventStyle("s", PALETTE["sky_blue"], "other", "kernel: {kind}", "{kind}"),
    "app": EventStyle("D", PALETTE["black"], "other", "app: {kind}", "{kind}"),
    "packet": EventStyle(">", PALETTE["black"], "packet", "{kind}", "{kind}"),
}

#: (source, kind) -> style. Markers: circle = syscall, square = kernel, diamond = app;
#: filled red = failure, green = success.
EVENT_STYLES: dict[tuple[str, str], EventStyle] = {
    ("syscall", "write"): EventStyle("o", PALETTE["bluish_green"], "write() ok", "write() {len} B ok", "write {len}"),
    ("syscall", "write_error"): EventStyle("X", PALETTE["vermillion"], "write() failed", "write() fails: {errno}",
                                           "write {errno}"),
    ("syscall", "read"): EventStyle("o", PALETTE["grey"], "read()", "read() {len} B", "read {len}"),
    ("syscall", "read_eof"): EventStyle("o", PALETTE["reddish_purple"], "read() = 0 (EOF)", "read() = 0: EOF",
                                        "EOF"),
    ("syscall", "read_error"): EventStyle("X", PALETTE["vermillion"], "read() failed", "read() fails: {errno}",
                                          "read {errno}"),
    ("syscall", "accept"): EventStyle("o", PALETTE["grey"], "accept/connect/close", "accept()", "accept"),
    ("syscall", "connect"): EventStyle("o", PALETTE["grey"], "accept/connect/close", "connect()", "connect"),
    ("syscall", "close"): EventStyle("o", PALETTE["grey"], "accept/connect/close", "close()", "close"),
    ("syscall", "shutdown"): EventStyle("o", PALETTE["reddish_purple"], "shutdown()", "shutdown()",
                                        "shutdown"),
    ("syscall", "signal"): EventStyle("o", PALETTE["reddish_purple"], "signal", "signal {signal}", "{signal}"),
    ("kernel", "state"): EventStyle("s", PALETTE["sky_blue"], "TCP state change", "state → {new_state}",
                                    "{new_state}"),
    ("kernel", "rst_sent"): EventStyle("s", PALETTE["vermillion"], "sends RST", "kernel sends RST ({detail})",
                                       "RST sent"),
    ("kernel", "rst_received"): EventStyle("s", PALETTE["orange"], "gets RST", "kernel gets RST",
                                           "RST in"),
    ("kernel", "sk_error"): EventStyle("s", PALETTE["vermillion"], "socket error", "socket error {errno}",
                                       "sk_err {errno}"),
    ("kernel", "send_length"): EventStyle("s", PALETTE["grey"], "send length", "send {len} B", "send {len}"),
    ("app", "write"): EventStyle("D", PALETTE["bluish_green"], "Write ok", "app: Write ok {len} B",
                                 "Write {len}"),
    ("app", "write_error"): EventStyle("D", PALETTE["vermillion"], "Write error", "app: Write error {errno}",
                                       "Write {errno}"),
    ("app", "abort"): EventStyle("D", PALETTE["reddish_purple"], "gives up (abort)", "app: abort ({detail})", "abort"),
    ("app", "request"): EventStyle("D", PALETTE["grey"], "request/response", "app: request", "request"),
    ("app", "response"): EventStyle("D", PALETTE["grey"], "request/response", "app: response done",
                                    "response"),
    ("app", "read_eof"): EventStyle("D", PALETTE["reddish_purple"], "sees EOF", "app: EOF", "EOF"),
    ("app", "log"): EventStyle("D", PALETTE["grey"], "log line", "app: {detail}", "log"),
}


#: A "failure" with one of these errnos is the normal life of a non-blocking socket, not a fault:
#: drawn muted so the real failure stands out.
BENIGN_ERRNOS = frozenset({"EAGAIN", "EWOULDBLOCK", "EINTR", "EINPROGRESS"})
BENIGN_STYLE = EventStyle("o", PALETTE["grey"], "would block (EAGAIN)", "{call}() → {errno}", "{call} {errno}")


def event_style(source: str, kind: str, errno: str | None = None) -> EventStyle:
    """Style of a non-packet row, falling back to its source's default."""
    if errno in BENIGN_ERRNOS and source == "syscall":
        return BENIGN_STYLE
    return EVENT_STYLES.get((source, kind)) or SOURCE_DEFAULTS.get(source) or SOURCE_DEFAULTS["app"]


def packet_style(kind: str) -> PacketStyle:
    return PACKET_STYLES.get(kind, UNKNOWN_PACKET)


#: Badges for the causal chain, in order (❶ ❷ ...), then "(11)" beyond ten.
_BADGES = "❶❷❸❹❺❻❼❽❾❿"


def badge(index: int) -> str:
    """The badge of the ``index``-th (0-based) step of a causal chain."""
    return _BADGES[index] if 0 <= index < len(_BADGES) else f"({index + 1})"
