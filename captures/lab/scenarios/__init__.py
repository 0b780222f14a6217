"""The scenario registry.

`basic` and `faults` are listed here; any other module of this package that defines a
module-level ``SCENARIOS`` tuple is picked up by itself (so families can be added without
editing this file).
"""

from __future__ import annotations

import importlib
import pkgutil

from captures.lab.scenario import Scenario
from captures.lab.scenarios import basic, faults

_CORE: tuple[Scenario, ...] = (
    basic.ClientDisconnectWs(),
    basic.ClientDisconnectPolling(),
    basic.ServerDisconnect(),
    basic.ClientKilled(),
    basic.ServerClose(),
    basic.Namespaces(),
    basic.AuthRejected(),
    basic.PayloadTooLargeWs(),
    basic.PayloadTooLargePolling(),
    basic.BinaryAcks(),
    basic.Deflate(),
    faults.NetworkLossWs(),
    faults.NetworkLossPolling(),
    faults.NetworkLossAfterUpgrade(),
    faults.Malformed(),
    faults.ClientStalled(),
    faults.ServerStalled(),
    faults.ServerCrashRestart(),
    faults.VersionMismatch(),
    faults.ManyClients(),
)


def _family_modules() -> tuple[Scenario, ...]:
    found: list[Scenario] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name in ("basic", "faults", "helpers"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "SCENARIOS", ()))
    return tuple(found)


SCENARIOS: tuple[Scenario, ...] = _CORE + _family_modules()


def by_name(name: str) -> Scenario:
    """The registered scenario called ``name`` (KeyError when there is none)."""
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(name)
