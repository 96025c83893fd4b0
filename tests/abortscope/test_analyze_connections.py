"""`abortscope analyze` on the connection table: --table connections, --verdict, --details, json, completion."""

from __future__ import annotations

import io
import json
import os
import re

import pandas as pd
import pytest
from typer.testing import CliRunner

import analysis
from abortscope.cli import app
from analysis.schema import CONNECTION_COLUMN_NAMES, COLUMN_NAMES
from tests.analysis.bundles import bundle

runner = CliRunner()
#: 17 connections: 8 OPEN, 6 REFUSED, 3 RST_BY_CLIENT (nmap's version scan)
NMAP = "zeek__nmap-vsn.pcap"


def run(*args, **kwargs):
    return runner.invoke(app, ["analyze", *map(str, args)], **kwargs)


READERS = {"csv": lambda p: pd.read_csv(p), "json": lambda p: pd.DataFrame(json.loads(p.read_text())),
           "jsonl": lambda p: pd.read_json(p, lines=True), "parquet": pd.read_parquet}


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_the_connection_table_exports_one_row_per_connection_with_its_verdict(fmt, tmp_path):
    path = bundle("go-curl-8061")
    out = tmp_path / f"connections.{fmt}"
    result = run(path, "--table", "connections", "--format", fmt, "-o", out)
    assert result.exit_code == 0, result.output
    table = READERS[fmt](out)
    assert tuple(table.columns) == CONNECTION_COLUMN_NAMES
    expected = analysis.load(path).connections
    assert table["flow"].tolist() == expected["flow"].astype(str).tolist()
    [row] = table[table["verdict"] == "WRITE_AFTER_PEER_FIN_RST_EPIPE"].to_dict("records")
    assert row["syscall_error_errno"] == "EPIPE" and row["closer"] == "client" and row["writer"] == "server"
    assert "broken pipe" in row["app_error_text"] and row["rst_reason"] == "TCP_TIMEWAIT_SOCKET"
    assert row["state_at_rst"] == "CLOSE_WAIT" and row["bytes_after_close"] == 4096
    assert int(row["rst_answer_frame"]) > int(row["data_after_fin_frame"]) > int(row["first_fin_frame"])


def test_parquet_reads_back_as_the_connection_table(tmp_path):
    path = bundle("go-curl-8061")
    out = tmp_path / "c.parquet"
    assert run(path, "--table", "connections", "--format", "parquet", "-o", out).exit_code == 0
    from analysis.export import exportable

    expected = exportable(analysis.load(path).connections, CONNECTION_COLUMN_NAMES).reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_parquet(out), expected)


@pytest.mark.parametrize("table", ["timeline", "connections"])
def test_json_is_one_document_that_json_load_reads(table, corpus):
    result = run(corpus / NMAP, "--format", "json", "--table", table)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert isinstance(rows, list) and len(rows) == (17 if table == "connections" else 
                                                    len(analysis.load(corpus / NMAP).events))
    assert set(rows[0]) == set(CONNECTION_COLUMN_NAMES if table == "connections" else COLUMN_NAMES)


def test_an_empty_selection_is_still_a_valid_document(corpus):
    result = run(corpus / NMAP, "--format", "json", "--table", "connections", "--verdict", "HALF_CLOSE_CLEAN")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [] and "no connection has the verdict HALF_CLOSE_CLEAN" in result.output


def test_verdict_keeps_the_connections_with_those_verdicts(corpus):
    result = run(corpus / NMAP, "--format", "csv", "--table", "connections", "--verdict", "refused,RST_BY_CLIENT")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(io.StringIO(result.output))
    assert table["verdict"].value_counts().to_dict() == {"REFUSED": 6, "RST_BY_CLIENT": 3}
    timeline = pd.read_csv(io.StringIO(run(corpus / NMAP, "--format", "csv", "--verdict", "RST_BY_CLIENT").output))
    assert set(timeline["flow"]) == set(table.loc[table["verdict"] == "RST_BY_CLIENT", "flow"])
    assert set(timeline["conn"]) == set(table.loc[table["verdict"] == "RST_BY_CLIENT", "conn"])


def test_an_unknown_verdict_is_one_line_listing_the_names(corpus):
    result = run(corpus / NMAP, "--verdict", "BROKEN_PIPE")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "unknown verdict BROKEN_PIPE" in result.output and "WRITE_AFTER_PEER_FIN_RST_EPIPE" in result.output


def test_text_counts_the_verdicts_and_explains_the_most_telling_first(corpus):
    result = run(corpus / NMAP, "--details", "4")
    assert result.exit_code == 0, result.output
    text = result.output
    assert "17 connection(s)" in text
    assert re.search(r"RST_BY_CLIENT\s*│\s*3", text) and re.search(r"REFUSED\s*│\s*6", text)
    assert "details for 4 of 9 connections that did not close cleanly" in text
    explained = re.findall(r"^\S+>\S+  ([A-Z_]+)  ", text, flags=re.M)
    assert explained == ["RST_BY_CLIENT"] * 3 + ["REFUSED"]  # aborts before refusals; the OPEN ones not at all


def test_text_with_a_verdict_explains_those_only(corpus):
    result = run(corpus / NMAP, "--verdict", "OPEN", "--details", "2")
    assert result.exit_code == 0, result.output
    assert re.findall(r"^\S+>\S+  ([A-Z_]+)  ", result.output, flags=re.M) == ["OPEN", "OPEN"]
    assert "details for 2 of 8 connections" in result.output


def test_details_zero_prints_the_counts_only(corpus):
    result = run(corpus / NMAP, "--details", "0")
    assert result.exit_code == 0 and "REFUSED" in result.output
    assert not re.findall(r"^\S+>\S+  ([A-Z_]+)  ", result.output, flags=re.M)


def test_tab_completion_lists_the_verdicts():
    env = {**os.environ, "_ABORTSCOPE_COMPLETE": "complete_bash", "COMP_CWORD": "4",
           "COMP_WORDS": "abortscope analyze x.pcap --verdict RST_BY_CLIENT,WRITE_AFTER"}
    result = runner.invoke(app, [], env=env, prog_name="abortscope")
    assert result.output.split() == ["RST_BY_CLIENT,WRITE_AFTER_PEER_FIN_RST_EPIPE", "RST_BY_CLIENT,WRITE_AFTER_PEER_FIN_RST"]


def test_the_text_report_puts_only_the_shown_connections_into_words(corpus, monkeypatch):
    """70,000 connections must cost what --details of them cost: no whole timeline, no prose for the rest."""
    import analysis.diagnosis as diagnosis
    from analysis.timeline import Timeline

    explained = []
    real = diagnosis.diagnosis_of

    def counting(row, *args, **kwargs):
        explained.append(row["flow"])
        return real(row, *args, **kwargs)

    def no_whole_timeline(self):
        raise AssertionError("the text report built the whole timeline")

    monkeypatch.setattr(diagnosis, "diagnosis_of", counting)
    monkeypatch.setattr(Timeline, "events", property(no_whole_timeline))
    result = run(corpus / NMAP, "--details", "3")
    assert result.exit_code == 0, result.output
    assert len(explained) == 3
