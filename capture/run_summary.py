"""The few facts `abortscope run` prints once a run is over: a view of the run's one loaded Timeline.

    app       the first server event in app.jsonl that carries an error
    wire      the first RST of the capture: who sent it, when, its frame; how many packets; snaplen cuts
    syscall   the first write/send-like syscall of the strace that returned -1, and its errno

``summarize(timeline, ...)`` takes the Timeline the after-run analysis
loaded (analysis.bundle_outputs.AfterRun); the run stores the facts as data
in meta["summary"] (``as_data``, one dict per layer) and renders the lines
from them (``lines``, ``lines_of(meta)``). A layer that was not recorded
(``--no-strace``, a recorder that could not start) says "not recorded" and
why, never "no failing write": nobody looked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from analysis.schema import EventKind, Source
from analysis.tcp.flags import RST
from analysis.timeline import Timeline
from capture.servers.events import read_app_events

#: the data argument strace prints ("\0\0..."...), elided from the summary line
QUOTED_BUFFER = re.compile(r'"(?:[^"\\]|\\.)*"(?:\.\.\.)?')
#: summary layer -> the recorder whose file it reads
LAYER_RECORDERS = {"wire": "capture", "syscall": "strace"}


@dataclass(frozen=True)
class FirstRst:
    by: str  #: "client" or "server" (the side whose port sent it)
    frame: int  #: its frame number in capture.pcap
    t_rel_s: float  #: seconds since the capture's first packet


@dataclass(frozen=True)
class RunSummary:
    app_error: str | None  #: "impl: error text" of the first server event with an error
    first_rst: FirstRst | None
    failing_syscall: str | None  #: as strace printed it, the data elided
    packets: int  #: TCP packets in the capture
    #: layer ("wire", "syscall") -> why it was not recorded
    not_recorded: dict[str, str] = field(default_factory=dict)
    failing_errno: str | None = None  #: the errno of ``failing_syscall`` (EPIPE)
    truncated: bool = False  #: the snaplen cut packets
    read: str = ""  #: how the facts were read (the after-run analysis's Timeline, or a read of their own and why)

    @property
    def rst(self) -> str | None:
        """The first RST in words."""
        first = self.first_rst
        if first is None:
            return None
        return f"{first.by} sent RST at +{first.t_rel_s:.3f} s (packet {first.frame} of {self.packets})"

    def said(self) -> dict[str, str]:
        """Layer ("app", "wire", "syscall") -> what it shows, in words."""
        said = {
            "app": self.app_error or "no error reached the application",
            "wire": self.rst or f"no RST in {self.packets} packets",
            "syscall": self.failing_syscall or "no failing write",
        }
        said.update({layer: f"not recorded: {why}" for layer, why in self.not_recorded.items()})
        return said

    def lines(self) -> list[str]:
        return [f"{layer + ':':<8} {text}" for layer, text in self.said().items()]

    def warnings(self, iface: str) -> list[str]:
        """What a user must not miss: a capture that ran and holds no packet."""
        if "wire" in self.not_recorded or self.packets:
            return []
        return [f"the capture on {iface} holds no packets: the run's traffic was not seen there"]

    def as_data(self) -> dict:
        """meta["summary"]: the facts of each layer (a layer not recorded holds only why)."""
        first = self.first_rst
        layers = {
            "app": {"error": self.app_error},
            "wire": {"packets": self.packets, "truncated": self.truncated,
                     "first_rst": None if first is None else asdict(first)},
            "syscall": {"failing": self.failing_syscall, "errno": self.failing_errno},
        }  # fmt: skip
        layers.update({layer: {"not_recorded": why} for layer, why in self.not_recorded.items()})
        return {**layers, "read": self.read}

    @classmethod
    def from_data(cls, data: dict) -> "RunSummary":
        app, wire, syscall = (data.get(layer) or {} for layer in ("app", "wire", "syscall"))
        first = wire.get("first_rst")
        return cls(
            app_error=app.get("error"), first_rst=FirstRst(**first) if first else None,
            failing_syscall=syscall.get("failing"), packets=int(wire.get("packets") or 0),
            not_recorded={layer: facts["not_recorded"] for layer, facts in (("wire", wire), ("syscall", syscall))
                          if "not_recorded" in facts},
            failing_errno=syscall.get("errno"), truncated=bool(wire.get("truncated")), read=data.get("read", ""),
        )  # fmt: skip


def lines_of(meta: dict) -> list[str]:
    """The summary lines of a bundle's meta.json: rendered from its facts, or as stored by a run that stored lines
    (bundles written before the summary was data: sample_pcaps/*/meta.json)."""
    stored = meta.get("summary")
    if isinstance(stored, list):
        return [str(line) for line in stored]
    if not isinstance(stored, dict):
        return []
    if "error" in stored:
        return [str(stored["error"])]
    return RunSummary.from_data(stored).lines()


def summarize(timeline: Timeline, app_jsonl: Path, server_port: int | None, recorders: dict[str, dict] | None = None,
              read: str = "") -> RunSummary:
    """The summary of a run's loaded Timeline; ``recorders`` is meta["recorders"] (which layers were recorded, or why
    not); ``read`` says how the Timeline was read."""
    not_recorded = {layer: str((recorders or {}).get(name, {}).get("why") or "it did not run")
                    for layer, name in LAYER_RECORDERS.items()
                    if recorders is not None and not recorders.get(name, {}).get("ran")}  # fmt: skip
    packets = timeline.packets
    failing, errno = _first_failing_write(timeline.other_events)
    return RunSummary(_first_app_error(app_jsonl), _first_rst(packets, server_port), failing, len(packets),
                      not_recorded, errno, bool(packets["truncated"].any()), read)


def _first_app_error(path: Path) -> str | None:
    # app.jsonl itself, not the Timeline: a timeline row's detail is the line's error text, or its detail when it
    # has none, so whether the application reported an error (Go's abort "context canceled") is the key's alone
    for event in read_app_events(path, actor="server"):
        if event.get("error"):
            return f"{event.get('impl', 'server')}: {event['error']}"
    return None


def _first_failing_write(events: pd.DataFrame) -> tuple[str | None, str | None]:
    """(the first write-like syscall that failed, as strace printed it with the data elided; its errno)."""
    failed = events[(events["source"] == Source.SYSCALL.value) & (events["kind"] == EventKind.WRITE_ERROR.value)]
    if failed.empty:
        return None, None
    errno = failed["errno"].iloc[0]
    return QUOTED_BUFFER.sub("...", str(failed["detail"].iloc[0])), None if pd.isna(errno) else str(errno)


def _first_rst(packets: pd.DataFrame, server_port: int | None) -> FirstRst | None:
    resets = packets[(packets["flags"] & RST).astype(bool)]
    if resets.empty:
        return None
    first = resets.iloc[0]
    return FirstRst(by="server" if first["sport"] == server_port else "client", frame=int(first["frame"]),
                    t_rel_s=float((first["ts_ns"] - packets["ts_ns"].iloc[0]) / 1e9))
