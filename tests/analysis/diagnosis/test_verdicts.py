"""The verdict rules table: checked at import, evaluated as columns, and the order the text report shows them in."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.diagnosis import most_telling
from analysis.diagnosis.signals import Signal
from analysis.diagnosis.verdicts import MOST_TELLING_FIRST, RULES, Rule, Verdict, check, verdict_codes


def test_the_shipped_rules_hold_together():
    check(RULES, MOST_TELLING_FIRST)


def test_a_misspelt_signal_is_refused_instead_of_never_matching():
    typo = Rule(Verdict.REFUSED, ("refsued",), (), "connection refused")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown signals \\['refsued'\\]"):
        check((typo, *RULES[1:]), MOST_TELLING_FIRST)


def test_a_missing_verdict_or_catch_all_is_refused():
    with pytest.raises(ValueError, match="every verdict once"):
        check(RULES[1:], MOST_TELLING_FIRST)
    with pytest.raises(ValueError, match="last rule"):
        check((*RULES[:-1], Rule(Verdict.OPEN, (Signal.ANY_FIN,), (), "open")), MOST_TELLING_FIRST)
    with pytest.raises(ValueError, match="display order"):
        check(RULES, MOST_TELLING_FIRST[1:])


def test_first_match_wins_over_all_rows_at_once():
    failed_write = {Signal.SYSCALL_ERROR, Signal.WRITE_FAILED, Signal.APP_SEEN}
    rows = [
        {Signal.LATE_DATA, Signal.RST_ANSWERS_LATE, Signal.SYSCALL_EPIPE, *failed_write, Signal.APP_ERROR,
         Signal.ANY_FIN, Signal.ANY_RST},
        {Signal.LATE_DATA, Signal.RST_ANSWERS_LATE, Signal.SYSCALL_EPIPE, *failed_write, Signal.ANY_FIN,
         Signal.ANY_RST},  # the same without the app's error: swallowed
        {Signal.CLIENT_ABORT, Signal.SYSCALL_ECONNRESET, Signal.SYSCALL_EPIPE, *failed_write, Signal.APP_ABORT,
         Signal.ANY_RST},  # the app logged the client's going: not swallowed
        {Signal.CLIENT_ABORT, Signal.SYSCALL_ECONNRESET, Signal.SYSCALL_ERROR, Signal.APP_SEEN, Signal.ANY_RST},
        {Signal.LATE_DATA, Signal.RST_ANSWERS_LATE, Signal.ANY_FIN, Signal.ANY_RST},
        {Signal.REFUSED, Signal.CLIENT_ABORT, Signal.ANY_RST},
        {Signal.HALF_CLOSE, Signal.RESPONSE_CUT, Signal.APP_ABORT, Signal.BOTH_FIN, Signal.ANY_FIN},
        {Signal.HALF_CLOSE, Signal.BOTH_FIN, Signal.ANY_FIN},
        {Signal.UNANSWERED, Signal.BOTH_FIN, Signal.ANY_FIN},
        {Signal.BOTH_FIN, Signal.ANY_FIN},
        set(),
    ]
    signals = {s: np.array([s in row for row in rows]) for s in Signal}
    got = [RULES[i].verdict for i in verdict_codes(signals, len(rows))]
    assert got == [Verdict.WRITE_AFTER_PEER_FIN_RST_EPIPE, Verdict.ERROR_SWALLOWED_BY_APP,
                   Verdict.RST_BY_CLIENT_ECONNRESET, Verdict.RST_BY_CLIENT_ECONNRESET,  # a read failed: no write swallowed
                   Verdict.WRITE_AFTER_PEER_FIN_RST, Verdict.REFUSED, Verdict.HALF_CLOSE_RESPONSE_CUT,
                   Verdict.HALF_CLOSE_CLEAN, Verdict.CLOSED_BEFORE_RESPONSE, Verdict.NORMAL_CLOSE, Verdict.OPEN]


def test_the_most_telling_come_first_and_clean_closes_not_at_all():
    table = pd.DataFrame({
        "verdict": ["NORMAL_CLOSE", "RST_BY_CLIENT", "WRITE_AFTER_PEER_FIN_RST_EPIPE", "REFUSED", "RST_BY_CLIENT",
                    "OPEN", "ERROR_SWALLOWED_BY_APP"],
        "first_ts_ns": [1, 2, 9, 3, 1, 0, 5],
    })
    assert most_telling(table)["verdict"].tolist() == [
        "WRITE_AFTER_PEER_FIN_RST_EPIPE", "ERROR_SWALLOWED_BY_APP", "RST_BY_CLIENT", "RST_BY_CLIENT", "REFUSED"]
    assert most_telling(table)["first_ts_ns"].tolist()[2:4] == [1, 2]  # same verdict: capture order
    assert most_telling(table, 2).index.tolist() == [2, 6]
    assert set(most_telling(table, include_clean=True)["verdict"]) == set(table["verdict"])
