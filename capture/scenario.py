"""One run of the abort scenario, recorded at every layer into a run bundle.

Phases, in order (meta["phase"] says where a run stopped):

    preflight   root, tools, bundle directory
    server      start the server as the invoking user, wait until it listens (and the proxy in
                front of it, when one is asked for: client -> proxy -> server)
    recorders   packet capture, then kernel tracepoints, then strace; each *ready*
    client      run the client; it aborts after abort_after_s
    handler     wait for the server's handler to finish (bounded)
    drain       recorders stop in reverse order, flushing what they hold
    stop        the server is stopped (by pid) and its port is free again
    done        meta.json written (also after a failure), the bundle chowned to the invoking user

Ctrl-C, SIGTERM or a failure in any phase: every process we started is
stopped by pid (ExitStack, reverse order), the recorders are drained so what
was captured is kept, and meta.json says "interrupted": true with the reason.
The analyzer is not imported here: the `after_run` hook (the CLI wires the
analyzer to it) gets the finished bundle directory, before the hand-over to
the invoking user, and its outcome goes to meta["analysis"].
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from analysis.bundle import BundlePaths
from analysis.errors import AbortscopeError
from capture import launch
from capture.bundle_writer import hand_over, prepare_bundle_dir, write_meta
from capture.privileges import require_root, require_tools
from capture.recorders.base import Recorder, RecorderError
from capture.recorders.dumpcap import DumpcapCapture
from capture.recorders.packets import PacketCapture
from capture.recorders.scapy_sniffer import ScapyCapture
from capture.recorders.strace import StraceRecorder
from capture.recorders.tcpdump import TcpdumpCapture
from capture.recorders.tracefs import TracefsRecorder
from capture.run_summary import RunSummary, summarize
from capture.users import invoking_user
from capture.versions import collect_versions

CAPTURE_BACKENDS: dict[str, type[PacketCapture]] = {
    "tcpdump": TcpdumpCapture,
    "scapy": ScapyCapture,
    "dumpcap": DumpcapCapture,
}
#: capture backend -> programs it runs
BACKEND_TOOLS = {"tcpdump": ["tcpdump"], "dumpcap": ["dumpcap", "editcap"], "scapy": []}
#: the handler is waited for until it logs its end, at most this long past its sleep
HANDLER_WAIT_MAX_S = 1.5
#: the server's stderr (Go's log.Println lines: the user's view of the error)
SERVER_LOG = "server.log"
#: the proxy's stderr (nginx's error log, Go's "http: proxy error" lines)
PROXY_LOG = "proxy.log"


@dataclass(frozen=True)
class ScenarioParams:
    """Everything that defines a run (it goes to meta["scenario"] as is). Defaults: the seed scenario."""

    out_dir: Path = Path("runs/seed")
    server: str = "go"
    client: str = "curl"
    size: int = 8061
    host: str = "127.0.0.1"
    abort_after_s: float = 0.3
    handler_delay_s: float = 1.0
    capture: str = "tcpdump"
    strace: bool = True
    kernel: bool = True
    content_length: bool = False
    ctx_aware: bool = False
    flush: bool = False
    write_size: int | None = None
    sndbuf: int = 0  # SO_SNDBUF on the server's accepted connection (go, python-raw); 0 = kernel default
    port: int | None = None  # None: a free port
    capture_iface: str = "lo"  # "any" gives Linux cooked (SLL2) frames, as `tcpdump -i any` does
    snaplen: int = 0  # bytes kept per packet; 0 = whole packets
    proxy: str = ""  # "" (none), or a key of capture.proxies.PROXIES: the client talks to it, it to the server

    def required_tools(self) -> list[str]:
        return [*BACKEND_TOOLS[self.capture], *(["strace"] if self.strace else []), *launch.tools_for(self)]


@dataclass
class RunResult:
    out_dir: Path
    meta: dict
    summary: RunSummary | None = None
    error: BaseException | None = field(default=None, repr=False)

    @property
    def interrupted(self) -> bool:
        return bool(self.meta.get("interrupted"))


class RunInterrupted(AbortscopeError):
    """The run was cut short by a signal; the bundle holds what was captured."""


def run_scenario(
    params: ScenarioParams,
    on_phase: Callable[[str], None] = lambda phase: None,
    argv: list[str] | None = None,
    after_run: Callable[[Path], list[str]] | None = None,
) -> RunResult:
    """Run the scenario once. Never leaves a process behind; raises only after meta.json is written.

    Raises NeedsRootError/MissingToolError before anything starts, RunInterrupted on
    Ctrl-C/SIGTERM, and any other AbortscopeError for a failed phase.
    """
    require_root(argv)
    require_tools(params.required_tools())
    launch.check(params)
    out_dir = Path(params.out_dir)
    bundle, created_dirs = prepare_bundle_dir(out_dir)
    run = _Run(params, bundle, on_phase, after_run, created_dirs)
    error: BaseException | None = None
    with _signals_as_interrupts() as received:
        try:
            run.execute()
        except BaseException as exc:  # noqa: BLE001 - recorded in meta, then re-raised
            error = exc
            run.meta["interrupted"] = True
            run.meta["reason"] = _reason(exc, received, run.meta["phase"])
        finally:
            run.finish()
    result = RunResult(out_dir, run.meta, run.summary, error)
    if error is not None:
        if isinstance(error, KeyboardInterrupt):
            raise RunInterrupted(f"{run.meta['reason']}; what was captured is in {out_dir}") from error
        raise error
    return result


class _Run:
    """The state of one run: its processes, recorders and meta, torn down in `finish`."""

    def __init__(
        self,
        params: ScenarioParams,
        bundle: BundlePaths,
        on_phase: Callable[[str], None],
        after_run: Callable[[Path], list[str]] | None,
        created_dirs: list[Path],
    ) -> None:
        self.params = params
        self.created_dirs = created_dirs
        self.after_run = after_run
        self.bundle = bundle
        self.on_phase = on_phase
        self.invoking = invoking_user()
        self.recorders: list[Recorder] = []
        self.server_log = bundle.root / SERVER_LOG
        self._versions = _InBackground(collect_versions)
        self.summary: RunSummary | None = None
        self.port: int | None = None
        self.meta: dict = {
            "scenario": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(params).items()},
            "started_ns": time.time_ns(),
            "finished_ns": None,
            "interrupted": False,
            "reason": None,
            "phase": "preflight",
            "phase_started_ns": {"preflight": time.time_ns()},
            "run_as": {"uid": self.invoking.uid, "gid": self.invoking.gid, "name": self.invoking.name},
            "server": {"impl": params.server, "host": params.host, "port": None, "pid": None},
            "client": {"impl": params.client, "pid": None, "exit_code": None},  # + what run_client reports
            "recorders": {},
            "clocks": {},
            "pids": {},
        }

    def _phase(self, name: str) -> None:
        self.meta["phase"] = name
        self.meta["phase_started_ns"][name] = time.time_ns()
        self.on_phase(name)

    def execute(self) -> None:
        params = self.params
        with ExitStack() as stack:  # unwinds in reverse: strace, kernel, capture, then the server
            self._phase("server")
            server = stack.enter_context(launch.server(params, params.port, self.bundle.app, self.server_log))
            self.port = server.port
            self.meta["server"].update(port=server.port, pid=server.pid, argv=server.argv, uid=server.user.uid)
            self._track("server", server.pid)
            front = self._proxy(stack, server.port) if params.proxy else server.port
            ports = tuple(dict.fromkeys((front, server.port)))  # the client's side first
            stack.push(self._stopping)  # runs after every recorder drained, before the server stops

            self._phase("recorders")
            capture = CAPTURE_BACKENDS[params.capture](
                self.bundle.capture, ports, iface=params.capture_iface, snaplen=params.snaplen
            )
            self._enter(stack, capture, required=True)
            if params.kernel:
                self._enter(stack, TracefsRecorder(ports, self.bundle.kernel), required=False)
            if params.strace:
                self._enter(stack, StraceRecorder(server.pid, self.bundle.strace), required=False)

            self._phase("client")
            client_started = time.monotonic()
            client = launch.run_client(params, front, self.bundle.app)
            self._track("client", client.pid)
            self.meta["client"].update(
                exit_code=client.returncode, signal=client.signal, uid=client.uid, argv=client.argv,
                started_ns=client.started_ns, abort_ns=client.abort_ns, ended_ns=client.ended_ns,
                bytes_received=client.bytes_received,
            )  # fmt: skip

            self._phase("handler")
            self._versions.start()  # `go version`, `curl --version`...: while the handler sleeps anyway
            deadline = client_started + params.handler_delay_s + HANDLER_WAIT_MAX_S
            self.meta["handler_wait"] = launch.wait_for_handler(self.bundle.app, server.pid, deadline)

            self._phase("drain")
        self._phase("done")

    def _proxy(self, stack: ExitStack, upstream_port: int) -> int:
        """Start the proxy in front of the server; its port (the one the client talks to)."""
        self.meta["proxy"] = {"impl": self.params.proxy, "host": self.params.host, "port": None, "pid": None,
                              "log": PROXY_LOG}
        proxy = stack.enter_context(launch.proxy(self.params, upstream_port, self.bundle.root / PROXY_LOG))
        self.meta["proxy"].update(port=proxy.port, argv=proxy.argv)
        self._track("proxy", proxy.pid)
        return proxy.port

    def _stopping(self, exc_type, exc, tb) -> None:
        if exc_type is None:  # after an interrupt, meta["phase"] keeps the phase it came in
            self._phase("stop")

    def _track(self, role: str, pid: int) -> None:
        self.meta[role]["pid"] = pid
        self.meta["pids"][role] = pid

    def _enter(self, stack: ExitStack, recorder: Recorder, required: bool) -> None:
        self.recorders.append(recorder)
        try:
            stack.enter_context(recorder)
        except RecorderError:
            if required:
                raise
            # an optional layer that cannot run is said in meta, the run goes on without it
        finally:
            for pid in recorder.pids:  # also when its start failed: it was stopped, the pid proves it
                self.meta["pids"][recorder.name] = pid

    def finish(self) -> None:
        """Always runs: recorder status, meta.json, ownership, summary. Must not raise."""
        for recorder in self.recorders:
            self.meta["recorders"][recorder.name] = recorder.status
            if isinstance(recorder, TracefsRecorder) and recorder.clocks:
                self.meta["clocks"] = recorder.clocks
        for name in ("capture", "kernel", "strace"):
            self.meta["recorders"].setdefault(name, {"ran": False, "why": self._why_not(name)})
        self.meta["pids_alive_after_run"] = [pid for pid in self.meta["pids"].values() if launch.is_alive(pid)]
        self.meta["versions"] = self._versions.result(timeout_s=20)
        try:
            self.summary = summarize(self.bundle, self.port)
            self.meta["summary"] = self.summary.lines()
        except Exception as exc:  # noqa: BLE001 - a summary must never hide the run's outcome
            self.meta["summary"] = [f"no summary: {exc}"]
        self.meta["finished_ns"] = time.time_ns()
        write_meta(self.bundle.root, self.meta)
        if self.after_run is not None and not self.meta["interrupted"]:
            try:
                self.meta["analysis"] = {"written": self.after_run(self.bundle.root), "error": None}
            except Exception as exc:  # noqa: BLE001 - the raw bundle stands without the analysis
                self.meta["analysis"] = {"written": [], "error": f"{type(exc).__name__}: {exc}"}
            write_meta(self.bundle.root, self.meta)
        failed = hand_over(self.bundle.root, self.invoking, self.created_dirs)
        if failed:
            self.meta["chown_failed"] = failed
            write_meta(self.bundle.root, self.meta)

    def _why_not(self, name: str) -> str:
        disabled = {"kernel": not self.params.kernel, "strace": not self.params.strace}
        if disabled.get(name):
            return f"disabled (--no-{name})"
        return f"the run stopped before this recorder started (phase {self.meta['phase']})"


class _InBackground:
    """A slow, side-effect-free call started early on a thread; run inline if it was never started."""

    def __init__(self, function: Callable[[], dict]) -> None:
        self._function = function
        self._thread: threading.Thread | None = None
        self._value: dict = {}

    def _run(self) -> None:
        try:
            self._value = self._function()
        except Exception as exc:  # noqa: BLE001 - versions are nice to have
            self._value = {"error": str(exc)}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="versions", daemon=True)
        self._thread.start()

    def result(self, timeout_s: float) -> dict:
        if self._thread is None:
            self._run()
        else:
            self._thread.join(timeout_s)
        return self._value


def _reason(exc: BaseException, received: list[str], phase: str) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return f"{received[0] if received else 'SIGINT'} during phase {phase}"
    return f"{type(exc).__name__} during phase {phase}: {exc}"


@contextmanager
def _signals_as_interrupts():
    """SIGINT and SIGTERM raise KeyboardInterrupt once; during clean-up further ones are only noted."""
    received: list[str] = []

    def handler(signum, frame):
        received.append(signal.Signals(signum).name)
        if len(received) == 1:
            raise KeyboardInterrupt(received[0])

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
