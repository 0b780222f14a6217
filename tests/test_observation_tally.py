"""Capture-level observations are tallied as they come; the findings are as if kept whole."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from analyzer.model import Finding
from analyzer.pipeline import ObservationTally, findings_from
from analyzer.sessions import Observation

observations = st.builds(
    Observation,
    st.sampled_from(["late-request", "session-unknown", "upgrade-failed", "page-load"]),
    st.integers(min_value=0, max_value=10**12),
    st.one_of(st.none(), st.sampled_from(["", "a", "b", "c", "d"])),
    st.none(),
    st.text(max_size=8),
)


def _grouped(items: list[Observation]) -> list[Finding]:
    """The plain reading: group every observation by kind, then summarise each group."""
    findings = []
    for kind in sorted({o.kind for o in items if o.kind != "page-load"}):
        group = [o for o in items if o.kind == kind]
        sids = tuple(dict.fromkeys(o.sid for o in group if o.sid))
        evidence = tuple(o.text for o in group[:5])
        if len(group) > 5:
            evidence += (f"... and {len(group) - 5} more",)
        findings.append(Finding(kind, len(group), sids, evidence))
    return findings


@given(st.lists(observations, max_size=40), st.integers(min_value=1, max_value=7))
def test_tallied_in_batches_equals_grouped_at_once(items: list[Observation], batch: int) -> None:
    tally = ObservationTally()
    for start in range(0, len(items), batch):
        tally.add(items[start : start + batch])
    assert tally.findings() == _grouped(items) == findings_from(items)
    assert tally.page_loads == [o for o in items if o.kind == "page-load"]
