"""The read path in instructions: what each server executes per request, counted by valgrind (callgrind).

    .venv/bin/python bench/read_path_instructions.py [--requests 1000] [--concurrency 8]

bench/read_path.py measures throughput, which swings ±10 % from minute to minute on a shared
2-core machine; a change worth 3 % is lost in that. Instruction counts do not swing: the same
code, inputs and requests give the same count (within 0.1 % here), whatever else the machine
is doing. So this runs the same two servers as read_path.py (same setup, its functions) under
`valgrind --tool=callgrind`, warms each up, zeroes the counters, sends `--requests` requests
of the same 64 KiB document and reads the total. It prints instructions per request of
Brygga's full path, of the bare baseline, and their ratio.

What it does not show: PostgreSQL's share (its own processes) and the real cost of work
valgrind cannot run natively (AES-GCM runs its AES-NI path under valgrind, not AVX-512, so
decryption counts several times what it costs on the machine). Use it to compare changes,
read_path.py to report throughput. Needs valgrind (`apt-get install valgrind`).
Exits 0 whatever the numbers; stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import functools
import glob
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import read_path

from bench.harness import stop, wait_ready


async def _requests(url: str, count: int, concurrency: int, headers: dict) -> int:
    import aiohttp

    sent = 0
    async with aiohttp.ClientSession(headers=headers) as session:
        async def worker() -> None:
            nonlocal sent
            while sent < count:
                sent += 1
                async with session.get(url) as response:
                    body = await response.read()
                if response.status != 200 or len(body) != read_path.SIZE:
                    raise RuntimeError(f"{url}: {response.status}, {len(body)} bytes")
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent


def _instructions(dump: str) -> int:
    for line in Path(dump).read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def measure(url: str, headers: dict, pid: int, out_dir: Path, count: int, concurrency: int) -> float:
    """Instructions per request of process `pid` (running under callgrind) over `count` requests."""
    asyncio.run(_requests(url, 200, concurrency, headers))  # warm: pools, prepared statements, caches
    subprocess.run(["callgrind_control", "--instr=on", str(pid)], check=True, capture_output=True)
    subprocess.run(["callgrind_control", "--zero", str(pid)], check=True, capture_output=True)
    sent = asyncio.run(_requests(url, count, concurrency, headers))
    before = set(glob.glob(str(out_dir / f"callgrind.out.{pid}*")))
    subprocess.run(["callgrind_control", "--dump", str(pid)], check=True, capture_output=True)
    dumps = sorted(set(glob.glob(str(out_dir / f"callgrind.out.{pid}*"))) - before)
    return _instructions(dumps[-1]) / sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="copy the servers' callgrind dumps here (for callgrind_annotate)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 0

    from service.embedded import EmbeddedPostgres

    tmp = Path(tempfile.mkdtemp(prefix="brygga-instr-"))
    postgres = EmbeddedPostgres(tmp / "postgres")
    spawn = read_path.spawn

    def under_callgrind(command: list[str], env: dict, log: Path) -> subprocess.Popen:
        # valgrind runs the program in its own process: the pid is the server's.
        # Counting starts switched off (start-up runs several times faster): measure() switches it on after the warm-up.
        return spawn(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp}/callgrind.out.%p",
                      *command], env, log)

    read_path.spawn = under_callgrind
    # Start-up under callgrind (the imports run some 50 times slower) can take minutes on a loaded machine.
    read_path.wait_ready = functools.partial(wait_ready, seconds=600)
    procs: list[subprocess.Popen] = []
    try:
        staff, procs, brygga_url, baseline_url, _ = asyncio.run(read_path.prepare(tmp, postgres.start()))
        ours = measure(brygga_url, staff, procs[0].pid, tmp, args.requests, args.concurrency)
        base = measure(baseline_url, {}, procs[1].pid, tmp, args.requests, args.concurrency)
    finally:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for dump in glob.glob(str(tmp / "callgrind.out.*")):
                shutil.copy(dump, args.keep)
        stop(procs, timeout=60)  # valgrind takes its time to write its last dump
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nInstructions per request, server process only ({args.requests} requests of 64 KiB, "
          f"{args.concurrency} concurrent, under callgrind)")
    print(f"  baseline {base / 1e3:9.1f} k")
    print(f"  brygga   {ours / 1e3:9.1f} k")
    print(f"  ratio    {ours / base:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
