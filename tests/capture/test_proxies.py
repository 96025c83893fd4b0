"""A proxy between client and server (nginx, Go's httputil.ReverseProxy): real processes on loopback, both connections
in one capture, linked by the analyzer and told as one chain; the proxy ended by pid, its temporary files gone."""

from __future__ import annotations

from pathlib import Path

import pytest

import analysis
from capture import procs
from capture.scenario import ScenarioParams, run_scenario
from tests import conftest

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.mark.parametrize("proxy, name, client", [("nginx", "nginx", "curl"),
                                                 ("go", "Go's httputil.ReverseProxy", "socket-fin")])
def test_a_proxy_chain_is_captured_linked_and_told_as_one_chain(tmp_path, proxy, name, client):
    conftest.require_root()
    conftest.require_tools("go", "curl", "tcpdump", "strace", *(["nginx"] if proxy == "nginx" else []))
    result = run_scenario(ScenarioParams(out_dir=tmp_path / proxy, proxy=proxy, client=client, handler_delay_s=0.5,
                                         abort_after_s=0.1))
    meta = result.meta
    assert meta["pids_alive_after_run"] == [] and not procs.is_running(meta["pids"]["proxy"])
    if proxy == "nginx":  # its own configuration lived in a private directory, removed with it
        assert not Path(meta["proxy"]["argv"][meta["proxy"]["argv"].index("-p") + 1]).exists()
        assert "client prematurely closed connection" in (result.out_dir / "proxy.log").read_text()

    timeline = analysis.load(result.out_dir)
    table = timeline.connections.set_index("conn")
    front = table[table["server"].str.endswith(f":{meta['proxy']['port']}")]
    back = table[table["server"].str.endswith(f":{meta['server']['port']}")]
    assert len(front) == len(back) == 1
    assert (front["link_role"].iloc[0], back["link_role"].iloc[0]) == ("proxied-by", "upstream-of")
    assert (front["link_conn"].iloc[0], back["link_conn"].iloc[0]) == (back.index[0], front.index[0])
    assert 0 < back["link_delay_ns"].iloc[0] < 50_000_000

    told = {d.flow: "\n".join(d.sentences) for d in timeline.diagnose()}
    front_words, back_words = told[front["flow"].iloc[0]], told[back["flow"].iloc[0]]
    assert f"The proxy ({name}) forwarded this request over {back['flow'].iloc[0]}" in front_words
    assert f"This is the upstream connection the proxy ({name}) opened for {front['flow'].iloc[0]}" in back_words
    assert "the upstream server's write then got RST" in back_words
    assert "The proxy closed with FIN" in back_words and "The client closed" not in back_words
