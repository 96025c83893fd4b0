"""The run bundle: the directory one `abortscope run` writes and the analyzer reads.

Layout (file names are the contract; see README "Run bundle"):

    capture.pcap   packets on lo, BPF-filtered on the server port (and the proxy's), ns timestamps
    app.jsonl      one JSON object per application event (servers and clients)
    strace.txt     `strace -f -ttt -T -yy` of the server
    server.log     the server's own log (Go's log.Println lines, UTC, microseconds)
    proxy.log      with a proxy in front of the server: its own log (nginx's error log, Go's proxy errors)
    kernel.txt     tracefs text of the TCP/sock tracepoints (trace clock, see meta)
    meta.json      scenario, ports, pids, versions, clock offsets, recorder status
    timeline.csv, timeline.png, ladder.svg   written by the analyzer after the run

`abortscope record` (capture.record) writes the same files (app.jsonl and server.log aside) plus
the logs it followed, each with its lines' arrival times:

    command.log      the stdout and stderr of `record -- CMD`
    applogN.log      the lines `--applog FILE` (N = 1, 2, ...) gained during the recording
    NAME.arrival     one epoch-ns integer per line of NAME: when the line reached the recorder
    meta["applogs"]  [{"file", "followed", "format", "options", "tz", "lines", "bytes"}]: how to read each

app.jsonl lines (all servers and clients write the same keys):
    {"ts_ns": int, "actor": "server"|"client", "impl": "go"|"python"|..., "pid": int,
     "event": "write"|"write_error"|"request"|"response"|"abort"|"accept"|"read_eof"|"log"|...,
     "asked": int|null, "written": int|null, "error": str|null, "errno": "EPIPE"|null,
     "local": "ip:port"|null, "remote": "ip:port"|null, "detail": str|null}
    (every key present, unused ones null; IPv6 addresses in brackets)

    event vocabulary:
      servers: listening, accept, request, write, write_error, flush, response
               (the handler returned), abort (-ctx-aware skipped the write; asked: the body it skipped);
               node also read_eof, close, log
      clients: connect, request, abort (curl SIGINT / FIN close / SO_LINGER 0),
               shutdown, read (written = bytes received), read_eof, read_error,
               close, exit (curl's status and its -v lines)

meta.json keys the analyzer uses:
    meta["clocks"]["trace_clock"]            tracefs clock name ("boot", "mono", ...)
    meta["clocks"]["trace_to_realtime_ns"]   add to a tracefs timestamp (ns) to get epoch ns
    meta["server"]["host"], meta["server"]["port"], meta["server"]["pid"], meta["server"]["impl"]
    meta["client"]["impl"], meta["scenario"]  (size, abort_after_s, handler_delay_s, ...)
    meta["proxy"]["impl"]                    the proxy in front of the server, if any (nginx, go): named in the words
    meta["recorders"][name] = {"ran": bool, "why": str|null, ...counts}
    meta["interrupted"]                      true when the run was cut short (Ctrl-C, failure)

A damaged meta.json (binary, not JSON, not an object, or a key above of the
wrong type) does not stop the analysis: load_meta keeps what it can and
says what it left out (META_TYPES).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from analysis.errors import BundleError

CAPTURE = "capture.pcap"
APP_EVENTS = "app.jsonl"
STRACE = "strace.txt"
SERVER_LOG = "server.log"
PROXY_LOG = "proxy.log"
KERNEL = "kernel.txt"
META = "meta.json"
TIMELINE_CSV = "timeline.csv"
TIMELINE_PNG = "timeline.png"
LADDER_SVG = "ladder.svg"
COMMAND_LOG = "command.log"
#: at most this many --applog files per recording (their bundle names are fixed: only our names are replaced)
MAX_APPLOGS = 8
APPLOG_FILES = tuple(f"applog{i}.log" for i in range(1, MAX_APPLOGS + 1))
ARRIVAL_SUFFIX = ".arrival"
FOLLOWED_LOGS = (COMMAND_LOG, *APPLOG_FILES)
#: The zone of server.log's times: the harness's Go server logs with log.LUTC (capture/servers/go/main.go).
SERVER_LOG_ZONE = "UTC"
#: meta.json keys the analyzer reads, and what each must be; load_meta drops one of another type (with a
#: warning), so no reader meets a list where it expects an object. Parents come before their keys.
META_TYPES: dict[tuple[str, ...], type] = {
    ("scenario",): dict, ("server",): dict, ("client",): dict, ("clocks",): dict, ("recorders",): dict,
    ("server", "impl"): str, ("server", "host"): str, ("client", "impl"): str,
    ("scenario", "server"): str, ("scenario", "client"): str, ("scenario", "host"): str,
}
_TYPE_NAMES = {dict: "an object", str: "text"}


@dataclass(frozen=True)
class BundlePaths:
    root: Path

    @property
    def capture(self) -> Path:
        return self.root / CAPTURE

    @property
    def app(self) -> Path:
        return self.root / APP_EVENTS

    @property
    def strace(self) -> Path:
        return self.root / STRACE

    @property
    def kernel(self) -> Path:
        return self.root / KERNEL

    @property
    def server_log(self) -> Path:
        return self.root / SERVER_LOG

    @property
    def meta(self) -> Path:
        return self.root / META


@dataclass(frozen=True)
class FollowedLog:
    """A log `abortscope record` copied into the bundle, and how to read it (meta["applogs"])."""

    path: Path
    format: str | None  # a source name of analysis.events.SOURCES; None: detected from the text
    options: dict
    tz: str | None

    @property
    def arrival(self) -> Path:
        return self.path.with_name(self.path.name + ARRIVAL_SUFFIX)


def followed_logs(root: Path, meta: dict) -> list[FollowedLog]:
    """The logs of meta["applogs"] that are in the bundle (only the bundle's own file names are read)."""
    found = []
    for entry in meta.get("applogs") or []:
        if not isinstance(entry, dict) or entry.get("file") not in FOLLOWED_LOGS:
            continue
        path = Path(root) / entry["file"]
        if path.is_file() and path.stat().st_size:
            fmt = entry.get("format")
            found.append(FollowedLog(path, fmt if isinstance(fmt, str) and fmt != "auto" else None,
                                     entry.get("options") if isinstance(entry.get("options"), dict) else {},
                                     entry.get("tz") if isinstance(entry.get("tz"), str) else None))
    return found


def is_bundle(path: Path) -> bool:
    return path.is_dir() and (path / META).is_file()


def read_meta(path: Path) -> dict:
    """meta.json of a bundle directory, or {} when the directory has none; BundleError when it is unreadable,
    not UTF-8 JSON, or not a JSON object."""
    meta_file = Path(path) / META
    if not meta_file.exists():
        return {}
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BundleError(f"{meta_file}: unreadable meta.json ({exc.strerror or exc})") from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON (JSONDecodeError is a ValueError)
        raise BundleError(f"{meta_file}: unreadable meta.json ({str(exc)[:120]})") from exc
    if not isinstance(meta, dict):
        raise BundleError(f"{meta_file}: meta.json holds {type(meta).__name__}, not a JSON object")
    return meta


def load_meta(path: Path) -> tuple[dict, list[str]]:
    """read_meta for the analysis: what of meta.json can be used, and a warning for what could not.

    An unreadable meta.json gives {} (the capture and the event logs are still
    read; the kernel trace then has no clock offset); a key of META_TYPES with
    a value of another type is left out.
    """
    try:
        meta = read_meta(path)
    except BundleError as exc:
        return {}, [f"{exc}: the bundle is read without it"]
    warnings = []
    for keys, expected in META_TYPES.items():
        parent = meta
        for key in keys[:-1]:
            parent = parent.get(key, {})
        value = parent.get(keys[-1])
        if value is not None and not isinstance(value, expected):
            del parent[keys[-1]]
            warnings.append(f"{Path(path) / META}: {'.'.join(keys)} is {type(value).__name__}, not "
                            f"{_TYPE_NAMES[expected]}; left out")
    return meta, warnings
