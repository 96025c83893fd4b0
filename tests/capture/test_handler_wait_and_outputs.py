"""meta.json tells the truth about the run: the handler's end is looked for even when the client took past the
deadline (browser runs), and a recorder whose file is missing after the drain is not said to have run."""

from __future__ import annotations

import json
import os
import time

import pytest

from capture import launch
from capture.recorders.base import Recorder


def _app(tmp_path, *events: str):
    path = tmp_path / "app.jsonl"
    path.write_text("".join(json.dumps({"ts_ns": 1, "actor": "server", "event": e}) + "\n" for e in events))
    return path


def test_a_handler_that_ended_before_a_late_deadline_check_is_done(tmp_path):
    """A browser gives up later than the handler's deadline: the wait starts past it and must still look."""
    app = _app(tmp_path, "request", "response")
    assert launch.wait_for_handler(app, os.getpid(), time.monotonic() - 1.0) == "handler done"


def test_a_handler_that_never_ended_is_the_deadline(tmp_path):
    app = _app(tmp_path, "request")
    assert launch.wait_for_handler(app, os.getpid(), time.monotonic() + 0.1) == "deadline"


class _Writes(Recorder):
    """A recorder that starts fine and writes (or not) its file at the drain."""

    name = "kernel"

    def __init__(self, out_path, writes: bool):
        super().__init__()
        self.out_path, self.writes = out_path, writes

    def _start(self) -> None:
        pass

    def _stop(self) -> None:
        if self.writes:
            self.out_path.write_text("x\n")


@pytest.mark.parametrize("writes", [True, False])
def test_a_recorder_ran_only_when_its_file_is_there(tmp_path, writes):
    recorder = _Writes(tmp_path / "kernel.txt", writes)
    with recorder:
        pass
    assert recorder.status["ran"] is writes
    assert writes or recorder.status["why"] == "kernel.txt was not written at the drain"
