"""`python -m service serve` under cProfile, switched on by SIGUSR1 and written to FILE by SIGUSR2.

    .venv/bin/python bench/cprofile_serve.py FILE

bench/read_path.py --cprofile FILE runs the server so: it profiles only the measured load, not start-up (the imports
and the OpenAPI document would be a large share of a whole run) nor the warm-up. cProfile times by the wall clock
and adds its own cost to every call: compare functions with each other and runs with runs, not with CPU time.
"""
from __future__ import annotations

import cProfile
import runpy
import signal
import sys
from pathlib import Path

if __name__ == "__main__":
    out = sys.argv.pop(1)
    sys.path[0] = str(Path(__file__).resolve().parent.parent)  # the project, as `python -m service` from its root
    sys.argv = ["service", "serve"]
    profiler = cProfile.Profile()

    def start(*_: object) -> None:
        profiler.enable()

    def dump(*_: object) -> None:
        profiler.disable()
        profiler.dump_stats(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, dump)
    runpy.run_module("service", run_name="__main__", alter_sys=True)
