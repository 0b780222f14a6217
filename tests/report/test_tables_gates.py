"""The tables behind every format, and the gate arithmetic on them."""

from __future__ import annotations

import dataclasses

import pytest

from analyzer.report.gates import (
    Gates,
    ShareLimit,
    evaluate,
    parse_fail_on,
    parse_max_share,
    worst_sessions,
)
from analyzer.report.tables import build_tables, idle_before_close_ns
from tests.report.fixtures import (
    at,
    har_analysis,
    open_at_end,
    pcap_analysis,
    polling_ping_timeout,
    proxy_cut,
)


def test_one_row_per_thing_and_a_capture_column_everywhere() -> None:
    t = build_tables([pcap_analysis(), har_analysis()])
    assert (len(t.captures), len(t.sessions), len(t.sockets)) == (2, 5, 4)
    assert (len(t.findings), len(t.diagnostics)) == (2, 1)
    assert len(t.events) == sum(
        len(s.timeline) for a in (pcap_analysis(), har_analysis()) for s in a.sessions
    )
    for frame in t.named().values():
        assert frame.columns[0] == "capture"


def test_empty_input_keeps_the_columns() -> None:
    empty = dataclasses.replace(pcap_analysis(), sessions=(), findings=(), diagnostics=())
    t = build_tables([empty])
    assert t.sessions.empty and "cause" in t.sessions.columns
    assert t.events.empty and "kind" in t.events.columns


def test_session_row_values() -> None:
    row = build_tables([pcap_analysis()]).sessions.set_index("sid").loc["Pp0Ll_ing2"]
    assert row["transports"] == "polling"
    assert row["duration_s"] == pytest.approx(69.997)
    assert (row["pings"], row["unanswered_pings"]) == (2, 1)
    assert row["server_reason"] == "ping timeout" and row["client_reason"] is None
    assert row["evidence"].split("\n")[1].startswith("no packet from client")


def test_idle_gap_before_close() -> None:
    assert idle_before_close_ns(proxy_cut()) == at(30.004) - at(10.004)
    assert idle_before_close_ns(polling_ping_timeout()) == at(75.0) - at(55.0)
    assert idle_before_close_ns(open_at_end()) is None


def test_parse_gate_arguments() -> None:
    assert parse_fail_on(["ping timeout, proxy-timeout", "ping timeout"]) == (
        "ping timeout",
        "proxy-timeout",
    )
    assert parse_max_share(["a=0.5,b=5%"]) == (ShareLimit("a", 0.5), ShareLimit("b", 0.05))


def test_fail_on_matches_sessions_through_their_sockets() -> None:
    t = build_tables([pcap_analysis()])
    result = evaluate(t, Gates(("client namespace disconnect",)))
    assert result.failing == {("captures/mixed.pcap", "Ab3dE_fGh1")}
    assert result.tripped


def test_share_counts_unclassified_sessions() -> None:
    plain = dataclasses.replace(
        polling_ping_timeout(),
        verdict=dataclasses.replace(polling_ping_timeout().verdict, cause=None),
    )
    analysis = dataclasses.replace(pcap_analysis(), sessions=(plain, proxy_cut()))
    result = evaluate(build_tables([analysis]), Gates((), (ShareLimit("unclassified", 0.4),)))
    assert result.shares[0].sessions == 1 and result.shares[0].share == 0.5
    assert result.tripped


def test_worst_sessions_put_gate_failures_first() -> None:
    t = build_tables([pcap_analysis()])
    worst = worst_sessions(t, evaluate(t, Gates(("proxy-timeout",))), 10)
    assert list(worst["sid"]) == ["Wx5_proxy3", "Pp0Ll_ing2"]  # benign ends are left out
