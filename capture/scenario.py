"""One run of the abort scenario, recorded at every layer into a run bundle.

Phases, in order (meta["phase"] says where a run stopped):

    preflight   root, tools, options, the bundle directory (checked and held open, see capture.out_dir)
    build       only when the Go server must be built first (the first run: about a minute)
    server      start the server as the invoking user, wait until it listens (and the proxy in
                front of it, when one is asked for: client -> proxy -> server)
    recorders   packet capture, then kernel tracepoints, then strace; each *ready*
    client      run the client; it aborts after abort_after_s
    handler     wait for the server's handler to finish (bounded)
    drain       recorders stop in reverse order, flushing what they hold
    stop        the server is stopped (by pid) and its port is free again
    analysis    the `after_run` hook (the CLI wires the analyzer to it) on the finished bundle
    done        the bundle published into --out and handed to the invoking user

The run records into a private staging directory (only root can enter it)
and publishes the bundle into ``--out`` at the end, meta.json last; the
analysis reads the staged files, never ``--out``, and the summary is a
view of the Timeline it loaded (of a load of its own when the analysis did
not run or failed: meta["summary"]["read"] says which).

Ctrl-C, SIGTERM or a failure in any phase: every process we started is
stopped by pid (ExitStack, reverse order; each one registered before a
signal could strike, see capture.interrupts), the recorders are drained so
what was captured is kept, the bundle is published and handed over all the
same, and meta.json says "interrupted": true with the reason. A Ctrl-C
during the analysis stops the analysis only. The analyzer is not imported
here; the hook's outcome goes to meta["analysis"].
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from analysis.bundle_outputs import AfterRun
from analysis.bundle import PROXY_LOG, SERVER_LOG  # the server's and the proxy's stderr
from analysis.errors import AbortscopeError
from analysis.inputs import Read
from capture import launch
from capture.bundle_session import BundleSession
from capture.interrupts import signals_as_interrupts
from capture.phases import Phase
from capture.privileges import require_root, require_tools
from capture.recorders.dumpcap import DumpcapCapture
from capture.recorders.packets import LOOPBACK_IFACES, PacketCapture
from capture.recorders.scapy_sniffer import ScapyCapture
from capture.recorders.strace import StraceRecorder
from capture.recorders.tcpdump import TcpdumpCapture
from capture.recorders.tracefs import TracefsRecorder
from capture.server_options import ServerOptions
from capture.run_summary import RunSummary, summarize
from capture.versions import VersionsInBackground

CAPTURE_BACKENDS: dict[str, type[PacketCapture]] = {
    "tcpdump": TcpdumpCapture,
    "scapy": ScapyCapture,
    "dumpcap": DumpcapCapture,
}
#: capture backend -> programs it runs
BACKEND_TOOLS = {"tcpdump": ["tcpdump"], "dumpcap": ["dumpcap", "editcap"], "scapy": []}
#: the handler is waited for until it logs its end, at most this long past its sleep
HANDLER_WAIT_MAX_S = 1.5
#: what the summary reads when the analysis left no Timeline: its layers only (the kernel's trace is no summary's)
SUMMARY_READ = Read(skip=frozenset({"kernel"}))


@dataclass(frozen=True)
class ScenarioParams(ServerOptions):
    """Everything that defines a run (it goes to meta["scenario"] as is). Defaults: the seed scenario.
    What the server is asked to do beyond size and delay: the inherited ServerOptions fields."""

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
    on_phase: Callable[[Phase], None] = lambda phase: None,
    argv: list[str] | None = None,
    after_run: Callable[[Path], AfterRun] | None = None,
    force: bool = False,
) -> RunResult:
    """Run the scenario once. Never leaves a process behind; raises only after the bundle is published.

    Raises NeedsRootError/MissingToolError/BundleError before anything starts,
    RunInterrupted on Ctrl-C/SIGTERM, and any other AbortscopeError for a
    failed phase. ``force``: write into a non-empty directory that holds no
    bundle (only bundle file names are replaced). ``after_run`` gets the
    staged bundle directory (its files are published with the bundle).
    """
    with signals_as_interrupts() as received:
        run = _Run(params, on_phase, after_run)
        error: BaseException | None = None
        try:
            run.preflight(argv, force)
            run.execute()
        except BaseException as exc:  # noqa: BLE001 - recorded in meta, then re-raised
            error = exc
            run.interrupted(exc, received)
        error = run.finish(received, error)
    result = RunResult(Path(params.out_dir), run.meta, run.summary, error)
    if error is not None:
        raise run.as_raised(error)
    return result


class _Run(BundleSession):
    """The state of one run: its processes, recorders and meta, torn down in `finish`."""

    def __init__(self, params: ScenarioParams, on_phase: Callable[[Phase], None], after_run) -> None:
        super().__init__(params, on_phase, after_run)
        self._versions = VersionsInBackground()
        self.summary: RunSummary | None = None
        self.port: int | None = None
        self.meta: dict = {
            "scenario": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(params).items()},
            "started_ns": time.time_ns(),
            "finished_ns": None,
            "interrupted": False,
            "reason": None,
            "phase": Phase.PREFLIGHT,
            "phase_started_ns": {Phase.PREFLIGHT: time.time_ns()},
            "run_as": {"uid": self.invoking.uid, "gid": self.invoking.gid, "name": self.invoking.name},
            "server": {"impl": params.server, "host": params.host, "port": None, "pid": None},
            "client": {"impl": params.client, "pid": None, "exit_code": None},  # + what run_client reports
            "recorders": {},
            "clocks": {},
            "pids": {},
            "warnings": [],
        }

    def preflight(self, argv: list[str] | None, force: bool) -> None:
        """Everything that can be refused, refused before anything starts or is written."""
        params = self.params
        require_root(argv)
        require_tools(params.required_tools())
        launch.check(params)
        CAPTURE_BACKENDS[params.capture].check(params.capture_iface, params.snaplen)
        if params.capture_iface not in LOOPBACK_IFACES:
            self.meta["warnings"].append(
                f"--capture-iface {params.capture_iface} cannot see this run's packets: they stay on loopback "
                f"({params.host}); capture on {' or '.join(LOOPBACK_IFACES)}")  # fmt: skip
        self._open_out(params.out_dir, force, "abortscope-run-")
        self.kept_in = self.out.path

    def execute(self) -> None:
        params = self.params
        with ExitStack() as stack:  # unwinds in reverse: strace, kernel, capture, then the server
            if not launch.server_built(params):
                self._phase(Phase.BUILD)
            launch.build_server(params)
            self._phase(Phase.SERVER)
            server_log = self.bundle.root / SERVER_LOG
            server = stack.enter_context(launch.server(params, params.port, self.bundle.app, server_log))
            self.port = server.port
            self.meta["server"].update(port=server.port, pid=server.pid, argv=server.argv, uid=server.user.uid)
            self._track("server", server.pid)
            front = self._proxy(stack, server.port) if params.proxy else server.port
            ports = tuple(dict.fromkeys((front, server.port)))  # the client's side first
            stack.push(self._stopping)  # runs after every recorder drained, before the server stops

            self._phase(Phase.RECORDERS)
            capture = CAPTURE_BACKENDS[params.capture](
                self.bundle.capture, ports, iface=params.capture_iface, snaplen=params.snaplen
            )
            self._enter(stack, capture, required=True)
            if params.kernel:
                self._enter(stack, TracefsRecorder(ports, self.bundle.kernel, server_pid=server.pid), required=False)
            if params.strace:
                self._enter(stack, StraceRecorder(server.pid, self.bundle.strace), required=False)

            self._phase(Phase.CLIENT)
            client_started = time.monotonic()
            client = launch.run_client(params, front, self.bundle.app)
            self._track("client", client.pid)
            self.meta["client"].update(
                exit_code=client.returncode, signal=client.signal, uid=client.uid, argv=client.argv,
                started_ns=client.started_ns, abort_ns=client.abort_ns, ended_ns=client.ended_ns,
                bytes_received=client.bytes_received,
            )  # fmt: skip

            self._phase(Phase.HANDLER)
            self._versions.start()  # `go version`, `curl --version`...: while the handler sleeps anyway
            deadline = client_started + params.handler_delay_s + HANDLER_WAIT_MAX_S
            self.meta["handler_wait"] = launch.wait_for_handler(self.bundle.app, server.pid, deadline)

            self._phase(Phase.DRAIN)

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
            self._phase(Phase.STOP)

    def _track(self, role: str, pid: int) -> None:
        self.meta[role]["pid"] = pid
        self.meta["pids"][role] = pid

    # --- the end of every run ------------------------------------------------------------------

    def _settle(self) -> None:
        """What the run left: recorder status, processes still alive (there should be none), versions."""
        self._recorders_status()
        for name in ("capture", "kernel", "strace"):
            self.meta["recorders"].setdefault(name, {"ran": False, "why": self._why_not(name)})
        self.meta["versions"] = self._versions.result(timeout_s=20)  # before _reap: `go version` may still run
        self._reap()

    def _after_analysis(self) -> None:
        """The summary: a view of the Timeline the analysis loaded, else of a load of its own (saying why)."""
        try:
            timeline, read = self.analyzed, "the after-run analysis's Timeline"
            if timeline is None:
                from analysis.api import load

                timeline, read = load(self.bundle.root, read=SUMMARY_READ), f"a read of its own: {self._not_analyzed()}"
            self.summary = summarize(timeline, self.bundle.app, self.port, self.meta["recorders"], read)
            self.meta["summary"] = self.summary.as_data()
            self.meta["warnings"] += self.summary.warnings(self.params.capture_iface)
        except Exception as exc:  # noqa: BLE001 - a summary must never hide the run's outcome
            self.meta["summary"] = {"error": f"no summary: {exc}"}

    def _not_analyzed(self) -> str:
        """Why the after-run analysis left no Timeline, in words."""
        if self.after_run is None:
            return "no after-run analysis"
        error = (self.meta.get("analysis") or {}).get("error")
        if error:
            return f"the analysis failed ({error})"
        return "the run was interrupted, the analysis skipped" if self.meta["interrupted"] else "the analysis loaded none"

    def as_raised(self, error: BaseException) -> BaseException:
        """The exception run_scenario raises for ``error``: where the recording is, and a publishing problem too."""
        if isinstance(error, KeyboardInterrupt):
            where = f"what was captured is in {self.kept_in}" if self.kept_in else "nothing was recorded"
            problem = f" ({self.publish_problem})" if self.publish_problem else ""
            if self.meta["phase"] == Phase.ANALYSIS:
                where += f", without its timeline and figures (`abortscope analyze {self.kept_in}` makes them)"
            exc = RunInterrupted(f"{self.meta['reason'] or 'interrupted'}; {where}{problem}")
            exc.__cause__ = error
            return exc
        if self.publish_problem and isinstance(error, AbortscopeError) and str(error) != self.publish_problem:
            exc = AbortscopeError(f"{error}; besides, {self.publish_problem}")
            exc.__cause__ = error
            return exc
        return error

    def _why_not(self, name: str) -> str:
        disabled = {"kernel": not self.params.kernel, "strace": not self.params.strace}
        if disabled.get(name):
            return f"disabled (--no-{name})"
        return f"the run stopped before this recorder started (phase {self.meta['phase']})"
