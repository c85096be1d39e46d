"""The read path under load: Brygga's full document read against a bare aiohttp + PostgreSQL baseline.

    .venv/bin/python bench/read_path.py [--quick] [--seconds 10] [--rounds 5] [--concurrency 32] [--cprofile F]

One embedded PostgreSQL (temp dir). Two servers, each its own process on 127.0.0.1:
- baseline: an aiohttp handler that fetches a 64 KiB blob by id from a plain table and
  returns it: no auth, no policy, no audit, no crypto (this file, --serve-baseline), on the same pool as
  Brygga's (its size, and no reset round trip on release);
- Brygga (`python -m service serve`): JWT check, facts, decision, audit event committed,
  decrypt, stream 64 KiB (GET /v1/documents/{id}/content).
A load generator in a third process keeps `--concurrency` requests in flight for
`--seconds`, against each server in turn for `--rounds` rounds (baseline first in odd rounds, Brygga first in even ones), and reports
throughput and p50/p99 latency. On a shared machine the speed of both drifts from minute to minute,
so each round's ratio compares two runs a few seconds apart, and the figures reported are the
medians over the rounds (every round is printed too). It also reports the CPU time each server and
PostgreSQL spent per request, and how idle the machine was: steadier than throughput, and they say
which side a change helped. Then one client alone against each (half-length rounds, each server first in turn):
the latency a lone request pays, and against a third server, Brygga as it was before issue #21 batched the reads
(BEFORE, extracted from this repository's history and run on its own database beside the other two): batching must
cost a lone client nothing.
Only whole 200 responses count toward throughput and latency; any other answer is an error, and a run with
any error is void (exit 1).
Targets (issue #21): Brygga ≥ 0.70 of the baseline's throughput at 32 clients; its p99 ≤ 2× the baseline's; one
client's p50 within 1.2× of the code before batching, in the same run (without git's history, --no-before: its
p50 ratio to the baseline within 1.2× of SINGLE_BEFORE, a figure of another hour).
Exits 0 whatever the numbers, 1 when a response was an error; stops everything it started.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

from bench.harness import ROOT, UNIT, free_port, identity, revision_tree, server_env, spawn, stop, wait_ready  # noqa: E402

SIZE = 64 * 1024
# The code before issue #21 batched the reads (the parent of 0b0932f, which began it): one client's p50 must stay
# within 1.2× of this code's, measured beside it in the same run.
BEFORE = "7ae50eed1a8a4d16431b61204e61c9653fcf80cc"
# Without that code (no git history): one client's p50 ratio (Brygga / baseline) before batching, measured with this
# file's honest baseline in another hour: the bare read's own p50 moves it (1.40 ms then, 0.84-1.66 ms since).
SINGLE_BEFORE = 2.86  # 2026-12-01 16:27, quiet machine: baseline p50 1.40 ms, Brygga 3.83 ms (bench --quick)
ALONE_ROUNDS = 3


# --- the baseline server (its own process) ------------------------------------------------------

def serve_baseline(dsn: str, port: int) -> None:
    import asyncpg
    from aiohttp import web

    from bench.harness import pool_size

    pool_key = web.AppKey("pool", asyncpg.Pool)

    async def blob(request: web.Request) -> web.Response:
        async with request.app[pool_key].acquire() as conn:
            data = await conn.fetchval("SELECT data FROM blobs WHERE id = $1", request.match_info["id"])
        if data is None:
            raise web.HTTPNotFound()
        return web.Response(body=data, content_type="application/octet-stream")

    async def ready(request: web.Request) -> web.Response:
        return web.json_response({"status": "ready"})

    async def keep_session(conn: asyncpg.Connection) -> None:
        """As Brygga's pool (service.database._keep_session): no reset round trip on release."""

    async def pool(app: web.Application):
        # The same pool as Brygga's: its size (Settings.db_pool_size) and its release without a reset query.
        app[pool_key] = await asyncpg.create_pool(dsn, min_size=2, max_size=pool_size(),
                                                  reset=keep_session)
        yield
        await app[pool_key].close()

    app = web.Application()
    app.cleanup_ctx.append(pool)
    app.router.add_get("/blob/{id}", blob)
    app.router.add_get("/readyz", ready)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --- the load generator (its own process) -------------------------------------------------------

def generate_load(url: str, seconds: float, concurrency: int, headers: dict) -> None:
    import aiohttp

    async def run() -> dict:
        latencies: list[float] = []  # of whole, successful reads only
        errors = 0
        deadline = time.perf_counter() + seconds
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline:
                    started = time.perf_counter()
                    async with session.get(url) as response:
                        body = await response.read()
                    if response.status != 200 or len(body) != SIZE:
                        errors += 1  # never counted as throughput: a run with any fails (main)
                    else:
                        latencies.append(time.perf_counter() - started)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
        if not latencies:
            nan = float("nan")
            return {"requests": 0, "errors": errors, "rps": 0.0, "p50": nan, "p99": nan, "mean": nan}
        latencies.sort()
        return {"requests": len(latencies), "errors": errors, "rps": len(latencies) / elapsed,
                "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)],
                "mean": statistics.fmean(latencies)}

    print(json.dumps(asyncio.run(run())))


# --- the run ------------------------------------------------------------------------------------

async def prepare(tmp: Path, server_dsn: str, profile: str | None = None, cprofile: str | None = None,
                  before: Path | None = None) -> tuple[dict, list[subprocess.Popen], str, str, str | None]:
    """Start the servers (Brygga, the baseline and, given `before`'s tree, Brygga as it was there) and give each a
    64 KiB document: (staff's headers, processes, Brygga's URL, the baseline's, the older Brygga's or None)."""
    import asyncpg

    from service.database import migrate, with_database

    conn = await asyncpg.connect(server_dsn)
    for name in ("brygga_bench", "baseline_bench", *(("before_bench",) if before else ())):
        await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    conn = await asyncpg.connect(with_database(server_dsn, "brygga_bench"))
    await migrate(conn)
    await conn.close()
    blob = os.urandom(SIZE)
    conn = await asyncpg.connect(with_database(server_dsn, "baseline_bench"))
    await conn.execute("CREATE TABLE blobs (id text PRIMARY KEY, data bytea NOT NULL);"
                       "ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL")
    await conn.execute("INSERT INTO blobs VALUES ('b1', $1)", blob)
    await conn.close()

    bearer = identity(tmp)
    ports = free_port(), free_port(), free_port()
    env = server_env(tmp, with_database(server_dsn, "brygga_bench"), ports[0])
    serve = [sys.executable, "-m", "service", "serve"]
    if profile:  # py-spy samples the server for the whole run (raw collapsed stacks)
        serve = [str(Path(sys.executable).parent / "py-spy"), "record", "-r", "250", "-f", "raw", "-o", profile, "--", *serve]
    elif cprofile:  # cProfile, on only while the rounds run (main): bench/cprofile_serve.py
        serve = [sys.executable, str(Path(__file__).resolve().parent / "cprofile_serve.py"), cprofile]
    procs = [spawn(serve, env, tmp / "brygga.log"),
             spawn([sys.executable, __file__, "--serve-baseline", with_database(server_dsn, "baseline_bench"),
                    str(ports[1])], dict(os.environ), tmp / "baseline.log")]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    if before:  # its own migrations, database, data directory and imports (its tree first on the path)
        old = server_env(tmp, with_database(server_dsn, "before_bench"), ports[2],
                         BRYGGA_DATA_DIR=str(tmp / "before-data"), PYTHONPATH=str(before))
        migrated = subprocess.run([sys.executable, "-m", "service", "migrate"], cwd=before, env=old,
                                  capture_output=True, text=True, timeout=300)
        if migrated.returncode:
            raise RuntimeError(f"the code before ({before}) could not migrate its database:\n{migrated.stderr[-3000:]}")
        procs.append(spawn([sys.executable, "-m", "service", "serve"], old, tmp / "before.log", cwd=before))
        await wait_ready(urls[2], procs[2], tmp / "before.log")
    await wait_ready(urls[0], procs[0], tmp / "brygga.log")
    await wait_ready(urls[1], procs[1], tmp / "baseline.log")

    admin, staff = bearer("admin-1", ["admin"]), bearer("bench-staff", ["staff"], UNIT)
    ours = await _document(urls[0], admin, staff, blob)
    theirs = await _document(urls[2], admin, staff, blob) if before else None
    return staff, procs, ours, f"{urls[1]}/blob/b1", theirs


async def _document(brygga: str, admin: dict, staff: dict, blob: bytes) -> str:
    """A unit, a client with the staff's relation, and a 64 KiB PDF of `blob` at the Brygga server `brygga`: the URL
    of its content."""
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def post(path: str, headers: dict, **kwargs) -> dict:
            async with session.post(brygga + path, headers=headers, **kwargs) as response:
                if response.status not in (200, 201):
                    raise RuntimeError(f"POST {path}: {response.status} {await response.text()}")
                return await response.json()
        await post("/v1/units", admin, json={"id": UNIT, "name": "Bench", "organisation": "malmo-stad", "domain": "social"})
        client = (await post("/v1/clients", staff, json={"personal_number": "19121212-1212", "name": "Bench"}))["id"]
        await post(f"/v1/clients/{client}/relations", staff, json={})
        form = aiohttp.FormData()
        form.add_field("metadata", json.dumps({"category": "other", "title": "Bench"}), content_type="application/json")
        form.add_field("file", b"%PDF-1.4\n" + blob[: SIZE - 15] + b"\n%%EOF", filename="b.pdf",
                       content_type="application/pdf")
        document = (await post(f"/v1/clients/{client}/documents", staff, data=form))["id"]
    return f"{brygga}/v1/documents/{document}/content"


def cpu_seconds(processes: list) -> float:
    """CPU time (user + system) the processes and their children used so far; processes gone count 0."""
    import psutil

    total = 0.0
    for root in processes:
        try:
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for proc in family:
            try:
                times = proc.cpu_times()
                total += times.user + times.system
            except psutil.NoSuchProcess:
                pass
    return total


def load(url: str, seconds: float, concurrency: int, headers: dict, server=None, postgres=None) -> dict:
    """One load run; with the server's and PostgreSQL's processes, also their CPU time per request (µs)."""
    import psutil

    before = (cpu_seconds([server]), cpu_seconds([postgres])) if server else None
    machine = psutil.cpu_times()
    result = subprocess.run([sys.executable, __file__, "--load", url, str(seconds), str(concurrency), json.dumps(headers)],
                            cwd=ROOT, capture_output=True, text=True, timeout=seconds + 120)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    outcome = json.loads(result.stdout)
    if before is not None:
        outcome["server_us"] = (cpu_seconds([server]) - before[0]) / outcome["requests"] * 1e6
        outcome["postgres_us"] = (cpu_seconds([postgres]) - before[1]) / outcome["requests"] * 1e6
    after = psutil.cpu_times()
    outcome["idle"] = (after.idle - machine.idle) / (sum(after) - sum(machine))
    return outcome


def _print_cprofile(path: str, requests: int, top: int = 30) -> None:
    """The functions that took the most time per request (µs, own and with callees) and their calls per request."""
    import pstats

    stats = pstats.Stats(path).stats  # type: ignore[attr-defined]
    print(f"cProfile of the Brygga server over {requests} requests (wall clock, cProfile's own cost included):",
          file=sys.stderr)
    print(f"{'own µs':>9}{'cum µs':>9}{'calls':>7}  function", file=sys.stderr)
    for (file, line, name), (_, calls, own, cum, _) in sorted(stats.items(), key=lambda item: -item[1][2])[:top]:
        print(f"{own / requests * 1e6:9.1f}{cum / requests * 1e6:9.1f}{calls / requests:7.2f}  {name} "
              f"{Path(file).name}:{line}", file=sys.stderr)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-baseline":
        serve_baseline(sys.argv[2], int(sys.argv[3]))
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        generate_load(sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), json.loads(sys.argv[5]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 5 s instead of 5 of 10")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of (baseline, Brygga)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profile", help="write py-spy's raw profile of the Brygga server to this file")
    parser.add_argument("--cprofile", help="write a cProfile of the Brygga server during the rounds to this file "
                                           "(pstats; the top functions per request are printed)")
    parser.add_argument("--before", default=BEFORE, help="the revision one client is compared with (default: the "
                                                         "code before issue #21 batched the reads)")
    parser.add_argument("--no-before", action="store_true", help="no older server: one client is judged by "
                                                                 "SINGLE_BEFORE, a figure of another hour")
    args = parser.parse_args()
    seconds, rounds = (5.0, 3) if args.quick else (args.seconds, args.rounds)

    from service.embedded import EmbeddedPostgres

    tmp = Path(tempfile.mkdtemp(prefix="brygga-bench-"))
    postgres = EmbeddedPostgres(tmp / "postgres")
    procs: list[subprocess.Popen] = []
    try:
        before = None if args.no_before else revision_tree(args.before, tmp / "before")
        if isinstance(before, str):
            print(f"no older server ({before}): one client is judged by SINGLE_BEFORE", file=sys.stderr)
            before = None
        server_dsn = postgres.start()
        staff, procs, brygga_url, baseline_url, before_url = asyncio.run(
            prepare(tmp, server_dsn, args.profile, args.cprofile, before))
        load(brygga_url, 2, args.concurrency, staff)  # warm up each: pools, prepared statements, caches
        load(baseline_url, 2, args.concurrency, {})
        if before_url:
            load(before_url, 2, 1, staff)
        import psutil

        pg = psutil.Process(int((postgres.pgdata / "postmaster.pid").read_text().split()[0]))
        servers = {"baseline": psutil.Process(procs[1].pid), "brygga": psutil.Process(procs[0].pid),
                   **({"before": psutil.Process(procs[2].pid)} if before_url else {})}
        runs: dict[str, list[dict]] = {"baseline": [], "brygga": []}
        alone: dict[str, list[dict]] = {name: [] for name in servers}  # one client: what batching must not cost
        order = [("baseline", baseline_url, {}), ("brygga", brygga_url, staff)]
        if args.cprofile:
            os.kill(procs[0].pid, signal.SIGUSR1)
        for number in range(1, rounds + 1):
            for name, url, headers in order if number % 2 else reversed(order):  # ABBA: a drift hits both alike
                runs[name].append(load(url, seconds, args.concurrency, headers, servers[name], pg))
            base, ours = runs["baseline"][-1], runs["brygga"][-1]
            print(f"  round {number}: baseline {base['rps']:.0f}/s, brygga {ours['rps']:.0f}/s, "
                  f"ratio {ours['rps'] / base['rps']:.2f}, p99 ratio {ours['p99'] / base['p99']:.2f}", file=sys.stderr, flush=True)
        if args.cprofile:
            os.kill(procs[0].pid, signal.SIGUSR2)
            time.sleep(2)
            _print_cprofile(args.cprofile, sum(r["requests"] for r in runs["brygga"]))
        lone = [*order, *((("before", before_url, staff),) if before_url else ())]
        for number in range(ALONE_ROUNDS):  # each server first in turn
            for name, url, headers in lone[number % len(lone):] + lone[:number % len(lone)]:
                alone[name].append(load(url, seconds / 2, 1, headers, servers[name], pg))
    finally:
        stop(procs, 2 if args.profile else 15)  # py-spy writes its profile on SIGINT
        postgres.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    median = statistics.median
    ratio = median(ours["rps"] / base["rps"] for base, ours in zip(runs["baseline"], runs["brygga"], strict=True))
    p99_ratio = median(ours["p99"] / base["p99"] for base, ours in zip(runs["baseline"], runs["brygga"], strict=True))
    print(f"\nBrygga read path ({os.cpu_count()} cores, 64 KiB, {args.concurrency} concurrent clients, "
          f"{rounds} rounds of {seconds:.0f} s each; medians)")
    print(f"{'':<10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'server µs/req':>15}{'postgres µs/req':>17}{'idle':>6}")
    for name, results in runs.items():
        print(f"{name:<10}{median(r['rps'] for r in results):>9.0f}{median(r['p50'] for r in results) * 1000:>9.1f}"
              f"{median(r['p99'] for r in results) * 1000:>9.1f}{sum(r['errors'] for r in results):>8}"
              f"{median(r['server_us'] for r in results):>15.0f}{median(r['postgres_us'] for r in results):>17.0f}"
              f"{median(r['idle'] for r in results):>6.0%}")
    print(f"throughput ratio {ratio:.2f}; p99 ratio {p99_ratio:.2f} (medians of the rounds' ratios)")
    single = {name: median(r["p50"] for r in results) for name, results in alone.items()}
    cpu = {name: median(r["server_us"] for r in results) for name, results in alone.items()}

    def paired(ours: str, theirs: str) -> float:
        return median(a["p50"] / b["p50"] for a, b in zip(alone[ours], alone[theirs], strict=True))

    single_ratio = paired("brygga", "baseline")
    print(f"one client ({ALONE_ROUNDS} rounds of {seconds / 2:.1f} s): baseline p50 {single['baseline'] * 1000:.2f} ms, "
          f"brygga p50 {single['brygga'] * 1000:.2f} ms (server µs/req {cpu['baseline']:.0f} and {cpu['brygga']:.0f}),"
          f" ratio {single_ratio:.2f}")
    if "before" in alone:
        lone_ratio, allowed = paired("brygga", "before"), 1.2
        print(f"  before batching ({args.before[:7]}), same run: p50 {single['before'] * 1000:.2f} ms (server µs/req "
              f"{cpu['before']:.0f}), ratio to the baseline {paired('before', 'baseline'):.2f}; "
              f"brygga / before {lone_ratio:.2f} (median of the rounds' ratios; allowed ≤ {allowed:.2f})")
        lone_target = "one client's p50 ≤ 1.2× the code's before batching, same run"
    else:
        lone_ratio, allowed = single_ratio, SINGLE_BEFORE * 1.2
        print(f"  no older server: ratio to the baseline judged by today's before batching, {SINGLE_BEFORE:.2f} "
              f"(another hour; allowed ≤ {allowed:.2f})")
        lone_target = "one client's p50 ratio ≤ 1.2× today's"
    errors = sum(r["errors"] for results in (*runs.values(), *alone.values()) for r in results)
    print("targets:")
    print(f"  no error response: {errors} → {'met' if not errors else 'NOT met (the run is void)'}")
    print(f"  throughput ≥ 0.70 of baseline: {ratio:.2f} → {'met' if ratio >= 0.7 and not errors else 'NOT met'}")
    print(f"  p99 ≤ 2× baseline p99: {p99_ratio:.2f} → {'met' if p99_ratio <= 2 and not errors else 'NOT met'}")
    print(f"  {lone_target}: {lone_ratio:.2f} → {'met' if lone_ratio <= allowed and not errors else 'NOT met'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
