"""What `abortscope run` and `abortscope record` share: phases, recorders entered, the end of every session.

A session records into a private staging directory (capture.out_dir) and, in
``finish`` (which always runs and never raises), settles what it left, writes
meta.json, runs the after-run hook (the analyzer) unless it was interrupted,
hands the new directories to the invoking user and publishes the bundle.
Subclasses call ``BundleSession.__init__`` first (the state every session
has: its parameters, hooks, the invoking user, its recorders, the children
already there), set ``meta``, call ``_open_out`` in their preflight (it sets
``out``, ``stage`` and ``bundle``), and define ``_settle``
(``_recorders_status`` first, ``_reap`` last); ``_after_analysis``
(nothing by default) makes what else the run says from the Timeline the
hook loaded (``analyzed``; None when the hook did not run or failed).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from analysis.bundle import BundlePaths
from analysis.errors import BundleError
from capture import procs
from capture.bundle_writer import ANALYSIS_FILES, open_bundle_dir, publish_or_keep, write_meta
from capture.interrupts import Received, deferred
from capture.out_dir import OutDir, make_staging
from capture.phases import Phase
from capture.recorders.base import Recorder, RecorderError
from capture.recorders.tracefs import TracefsRecorder
from capture.users import invoking_user


class BundleSession:
    analyzed = None  #: the Timeline the after-run hook loaded (analysis.bundle_outputs.AfterRun)

    def __init__(self, params, on_phase: Callable[[str], None], after_run) -> None:
        self.params, self.on_phase, self.after_run = params, on_phase, after_run
        self.invoking = invoking_user()
        self.out: OutDir | None = None
        self.stage: Path | None = None
        self.bundle: BundlePaths | None = None
        self.kept_in: Path | None = None  #: where what was recorded is (--out, or the stage if publishing failed)
        self.publish_problem: str | None = None
        self.recorders: list[Recorder] = []
        self._children_before = procs.children()

    def _open_out(self, out_dir: Path, force: bool, prefix: str) -> None:
        """``--out`` checked and held open together with the private stage it is published from, or neither."""
        with deferred():
            stage = make_staging(prefix)
            try:
                self.out = open_bundle_dir(Path(out_dir), self.invoking, force)
            except BaseException:
                shutil.rmtree(stage, ignore_errors=True)
                raise
            self.stage, self.bundle = stage, BundlePaths(stage)

    def _phase(self, name: Phase) -> None:
        self.meta["phase"] = name
        self.meta["phase_started_ns"][name] = time.time_ns()
        self.on_phase(name)

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

    def interrupted(self, exc: BaseException, received: Received) -> None:
        self.meta["interrupted"] = True
        self.meta["reason"] = _reason(exc, received.names, self.meta["phase"])

    # --- the end of every session ---------------------------------------------------------------

    def finish(self, received: Received, error: BaseException | None) -> BaseException | None:
        """Always runs, never raises: status, meta.json, the analysis, the published bundle. Returns the error to raise."""
        if self.out is None:  # refused (or interrupted) before --out was opened: nothing to write
            return error
        with received.quiet():
            self._settle()
            error = self._late_signal(received) or error
            write_meta(self.bundle.root, self.meta)
        if self.after_run is not None and not self.meta["interrupted"]:
            error = self._analyze(received) or error
        with received.quiet():
            self._after_analysis()
            self.analyzed = None  # a recording's Timeline is not kept past its views
            error = self._late_signal(received) or error
            if not self.meta["interrupted"]:
                self._phase(Phase.DONE)
            self.meta["finished_ns"] = time.time_ns()
            failed = self.out.hand_over_created()
            if failed:
                self.meta["chown_failed"] = failed
            write_meta(self.bundle.root, self.meta)
            self._publish()
        return error if error is not None or self.publish_problem is None else BundleError(self.publish_problem)

    def _settle(self) -> None:
        raise NotImplementedError

    def _recorders_status(self) -> None:
        """meta["recorders"] and meta["clocks"] from the recorders entered (for ``_settle``)."""
        for recorder in self.recorders:
            self.meta["recorders"][recorder.name] = recorder.status
            if isinstance(recorder, TracefsRecorder) and recorder.clocks:
                self.meta["clocks"] = recorder.clocks

    def _reap(self) -> None:
        """Kill the children of ours nothing stopped (``_children_before``: those there before the session), and
        say which processes the session started are still alive (for ``_settle``, last)."""
        strays = sorted(procs.children() - self._children_before)
        for pid in strays:
            procs.kill_stray(pid)
        self.meta["stray_children_killed"] = strays
        self.meta["pids_alive_after_run"] = [pid for pid in self.meta["pids"].values() if procs.is_running(pid)]

    def _after_analysis(self) -> None:
        """What the session says from the analysis (``analyzed``), before meta.json is written the last time."""

    def _late_signal(self, received: Received) -> KeyboardInterrupt | None:
        """A signal that came while finishing (only noted then): the run is interrupted all the same."""
        if not received.names or self.meta["interrupted"]:
            return None
        late = KeyboardInterrupt(received.names[0])
        self.interrupted(late, received)
        return late

    def _analyze(self, received: Received) -> BaseException | None:
        """The after-run hook on the staged bundle; Ctrl-C stops it (and marks the run interrupted)."""
        self._phase(Phase.ANALYSIS)
        try:
            done = self.after_run(self.bundle.root)
            self.analyzed = done.timeline
            self.meta["analysis"] = {"written": list(done.written), "error": None}
            return None
        except KeyboardInterrupt as exc:
            self.meta["analysis"] = {"written": [], "error": f"interrupted by {received.names[0] if received.names else 'SIGINT'}"}
            self.interrupted(exc, received)
            return exc
        except Exception as exc:  # noqa: BLE001 - the raw bundle stands without the analysis
            self.meta["analysis"] = {"written": [], "error": f"{type(exc).__name__}: {exc}"}
            return None
        finally:
            if self.meta["analysis"]["error"]:  # whatever it had half written is not published
                self.analyzed = None
                for name in ANALYSIS_FILES:
                    (self.bundle.root / name).unlink(missing_ok=True)

    def _publish(self) -> None:
        self.publish_problem = publish_or_keep(self.out, self.stage)
        if self.publish_problem:
            self.kept_in = self.stage



def _reason(exc: BaseException, received: list[str], phase: str) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return f"{received[0] if received else 'SIGINT'} during phase {phase}"
    return f"{type(exc).__name__} during phase {phase}: {exc}"
