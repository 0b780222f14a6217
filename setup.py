"""Build hook: compiles the per-packet and per-message modules to C with mypyc.

Those modules are plain typed Python and stay the source of truth; compiling them cuts the
CPU time of a large capture by about a third (README, Performance). Everything else —
the project's metadata included — is in pyproject.toml.

`SIOSCOPE_COMPILE` chooses: `auto` (the default) compiles and falls back to pure Python
if mypyc or the C compiler fails; `1` compiles or fails; `0` never compiles. Editable installs never
compile: a compiled module shadows its `.py`, so an edited source would silently not run.
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The hot path, as profiled on the load captures: the pcap record walk, the network layer,
# the stream parsers, the session builder and the workers' hand-over. Not here: `transport`,
# whose records cross the workers' pipe (mypyc's frozen dataclasses cannot be unpickled);
# `core` and `model`, whose records are made field by field through their slots; and what
# runs once per session or capture (classifier, reports).
COMPILED_MODULES = [
    "analyzer/net/fast.py",
    "analyzer/net/tcp.py",
    "analyzer/net/stream.py",
    "analyzer/net/conn.py",
    "analyzer/net/events.py",
    "analyzer/net/packet.py",
    "analyzer/flows.py",
    "analyzer/http1.py",
    "analyzer/websocket.py",
    "analyzer/engineio.py",
    "analyzer/socketio.py",
    "analyzer/sessions/builder.py",
    "analyzer/sessions/core.py",
    "analyzer/sessions/polling.py",
    "analyzer/sessions/websocket.py",
    "analyzer/sessions/packets.py",
    "analyzer/sessions/state.py",
    "analyzer/sessions/spill.py",
    "analyzer/sessions/records.py",
    "analyzer/handover.py",
    "analyzer/capture/mapped.py",
]


_BUILDS = {"bdist_wheel", "build", "build_ext", "install"}


_MODE = os.environ.get("SIOSCOPE_COMPILE", "auto").strip().lower()
if _MODE not in {"auto", "1", "0"}:
    sys.exit(f"SIOSCOPE_COMPILE must be auto, 1 or 0, not {_MODE!r}")


class _AllOrNothing(build_ext):
    """In auto mode, any failed extension drops them all, leaving the pure-Python modules.

    mypyc puts the compiled code in one shared library and gives each module a small
    extension that loads it: with the library missing (say the compiler ran out of memory
    on its large C file) the small ones would install and then fail at import.
    """

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:
            if _MODE == "1":
                raise
            for output in self.get_outputs():
                if os.path.exists(output):
                    os.remove(output)
            print(f"sioscope: compiling failed ({exc}), installing pure Python", file=sys.stderr)


def _compiled_extensions() -> list[object]:
    if _MODE == "0" or "editable_wheel" in sys.argv or not _BUILDS.intersection(sys.argv):
        return []  # metadata-only runs need no extensions (and mypyc takes half a minute)
    try:
        from mypyc.build import mypycify
    except ImportError:
        if _MODE == "1":
            raise
        print("sioscope: mypyc not available, installing pure Python", file=sys.stderr)
        return []
    # The build environment lacks the runtime packages (pandas, cryptography, ...), so the
    # modules importing them type-check differently there; only the compiled ones must pass.
    options = ["--follow-imports=silent"]
    try:
        extensions = mypycify([*options, *COMPILED_MODULES], opt_level="3", debug_level="0")
    except (Exception, SystemExit):  # mypyc exits on a type error it cannot compile past
        if _MODE == "1":
            raise
        print("sioscope: mypyc failed, installing pure Python", file=sys.stderr)
        return []
    return list(extensions)


setup(ext_modules=_compiled_extensions(), cmdclass={"build_ext": _AllOrNothing})
