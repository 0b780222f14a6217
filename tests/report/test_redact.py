"""`--redact`: identifiers and payloads never survive, pseudonyms are stable and distinct."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.report.command import FORMATS, run
from analyzer.report.redact import Redactor, redact_analyses
from tests.report.fixtures import har_analysis, pcap_analysis
from tests.report.helpers import fake_load, parse

SECRETS = (
    "10.0.0.2",
    "10.0.0.3",
    "Ab3dE_fGh1",
    "Pp0Ll_ing2",
    "Gone_sid99",
    "Xy9_socket1",
    "Qq7_socket2",
    "s3cr3t",
    "room:hello",
    "secret-hi",
)


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_identifier_survives_in_any_format(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "tables" if fmt == "csv" else tmp_path / "report"
    run(parse("captures/mixed.pcap", "--format", fmt, "-o", str(out), "--redact"), fake_load)
    files = list(out.iterdir()) if out.is_dir() else [out]
    text = "".join(f.read_text(encoding="utf-8") for f in files)
    for secret in SECRETS:
        assert secret not in text, f"{secret} leaked into the {fmt} report"
    assert "sid-" in text


def test_pseudonyms_are_stable_across_runs_and_distinct() -> None:
    first = redact_analyses([pcap_analysis()])[0]
    second = redact_analyses([pcap_analysis()])[0]
    assert [s.sid for s in first.sessions] == [s.sid for s in second.sessions]
    assert len({s.sid for s in first.sessions}) == len(first.sessions)
    assert first.sessions[0].sid == Redactor().pseudonym("sid", "Ab3dE_fGh1")


def test_same_value_same_pseudonym_everywhere() -> None:
    redacted = redact_analyses([pcap_analysis()])[0]
    session = next(s for s in redacted.sessions if s.eio == 4 and s.transports == ("polling",))
    finding = next(f for f in redacted.findings if f.kind == "upgrade-failed")
    assert finding.sessions == (session.sid,)
    assert session.client is not None
    assert session.client.ip in session.verdict.evidence[1].text


def test_a_key_changes_every_pseudonym() -> None:
    plain = redact_analyses([pcap_analysis()])[0]
    keyed = redact_analyses([pcap_analysis()], key=b"team secret")[0]
    assert {s.sid for s in plain.sessions}.isdisjoint({s.sid for s in keyed.sessions})


def test_auth_and_event_payloads_become_pseudonyms() -> None:
    session = redact_analyses([pcap_analysis()])[0].sessions[0]
    assert str(session.sockets[0].auth).startswith("auth-")
    event = next(e for e in session.timeline if e.kind == "event")
    assert event.text.startswith("/chat: event payload-") and event.text.endswith(" ack 1")
    assert all(not e.detail or e.detail.startswith("payload-") for e in session.timeline)


def test_values_without_identifiers_are_untouched() -> None:
    original = har_analysis()
    redacted = redact_analyses([original])[0]
    assert redacted.sessions[0].verdict.cause == original.sessions[0].verdict.cause
    assert redacted.info == original.info


def test_only_whole_tokens_are_replaced() -> None:
    r = Redactor()
    alias = r.learn("ip", "10.0.0.1")
    assert r.text("from 10.0.0.1:80 and 10.0.0.12 and 110.0.0.1") == (
        f"from {alias}:80 and 10.0.0.12 and 110.0.0.1"
    )


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5), text=st.text())
def test_text_rewrite_never_leaves_a_learned_value(values: list[str], text: str) -> None:
    r = Redactor()
    for value in values:
        r.learn("sid", value)
    joined = " ".join([text, *values, text])
    rewritten = r.text(joined)
    assert isinstance(rewritten, str)
    for value in values:
        if value.strip() and value.isalnum():
            assert f" {value} " not in f" {rewritten} ".replace(r.pseudonym("sid", value), "")
