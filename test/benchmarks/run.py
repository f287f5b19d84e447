#!/usr/bin/env python3
"""Benchmark litepolis_client against raw HTTP clients and two generated peers.

    python test/benchmarks/run.py           full run; writes docs/benchmarks-results.md
                                            and docs/benchmarks.png
    python test/benchmarks/run.py --quick   small counts; prints, writes nothing

Needs the `bench` extra: pip install -e '.[bench]'. One run starts a canned
keep-alive server on 127.0.0.1 in a child process, generates the two peer
clients into a temporary directory, measures, prints the tables and the
PASS/FAIL of each target, and stops the server. docs/benchmarks.md explains
the method. Exit code 0, or 1 with --strict when a target fails.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import canned_server
import measurements
import peers
import report
import urllib3

COMMAND = "python test/benchmarks/run.py"
PROFILE_TOP = 15

FULL = report.Settings(
    rounds=7,
    calls_per_round=2000,
    warmup_calls=500,
    cold_runs=15,
    threads=16,
    calls_per_thread=500,
    throughput_rounds=5,
    profile_calls=20_000,
)
QUICK = report.Settings(
    rounds=3,
    calls_per_round=300,
    warmup_calls=100,
    cold_runs=3,
    threads=16,
    calls_per_thread=50,
    throughput_rounds=1,
    profile_calls=2000,
)
RSS_WARMUP_CALLS = {False: 1000, True: 200}
RSS_CALLS = {False: 20_000, True: 2000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts for a smoke test; write no files")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any target fails")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if not args.quick and not report.can_draw_chart():
        print(
            f"error: a full run draws a chart with matplotlib, which is not installed: {peers.INSTALL_HINT}",
            file=sys.stderr,
        )
        return 2
    warning = report.source_warning()
    if warning:
        print(warning, file=sys.stderr)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="litepolis-bench-") as scratch:
        generated, unavailable = generate_peers(Path(scratch))
        server = canned_server.start()
        try:
            results = measure(server, settings, generated, unavailable, Path(scratch) / "pycache", quick=args.quick)
        finally:
            canned_server.stop(server)

    targets = report.check_targets(results)
    print()
    print("\n".join(report.machine_lines(results)))
    warning = report.load_warning(results)
    if warning:
        print(warning)
    print()
    print("\n".join(report.summary_tables(results, targets)))
    print()
    print("\n".join(report.profile_tables(results.profile)))
    print()
    for target in targets:
        print(f"{target.outcome:4}  {target.name}: {target.measured} (limit {target.limit})")

    if not args.quick:
        report.write_chart(results, report.CHART)
        page = report.markdown_page(results, targets, COMMAND, chart=report.CHART.name)
        report.RESULTS_PAGE.write_text(page, encoding="utf-8")
        print(f"\nwrote {report.RESULTS_PAGE_NAME} and {report.CHART_NAME}")
    print(f"total {time.perf_counter() - started:.0f} s")

    failed = any(target.outcome == "FAIL" for target in targets)
    return 1 if args.strict and failed else 0


def generate_peers(scratch: Path) -> tuple[Dict[str, Path], Dict[str, str]]:
    """Generate the stock and openapi-python-client peers and return their paths and the failures."""
    generated: Dict[str, Path] = {}
    unavailable: Dict[str, str] = {}
    steps = (
        (peers.STOCK, lambda: peers.generate_stock_client(scratch / "stock")),
        (
            peers.OPC,
            lambda: peers.generate_openapi_python_client(scratch / "opc", scratch / "opc-config.json"),
        ),
    )
    for peer_id, generate in steps:
        _progress(f"generating the {peer_id} peer")
        try:
            generated[peer_id] = generate()
        except peers.PeerUnavailable as exc:
            unavailable[peer_id] = str(exc)
            _progress(f"{peer_id} is left out: {exc}")
    return generated, unavailable


def build_peers(url: str, generated: Dict[str, Path], unavailable: Dict[str, str]) -> List[peers.Peer]:
    """Build every peer that is available and check that each sends the key and reads the response."""
    built = [peers.http_client_peer(url), peers.urllib3_peer(url), peers.litepolis_peer(url)]
    factories = {peers.STOCK: peers.stock_peer, peers.OPC: peers.opc_peer}
    for peer_id, package_parent in generated.items():
        try:
            built.append(factories[peer_id](url, package_parent))
        except peers.PeerUnavailable as exc:
            unavailable[peer_id] = str(exc)

    checked = []
    for peer in built:
        try:
            new_key = peer.call()
        except Exception as exc:
            unavailable[peer.id] = f"the sanity call failed: {type(exc).__name__}: {exc}"
            peer.close()
            continue
        if new_key != canned_server.RENEWED_KEY:
            unavailable[peer.id] = f"the sanity call returned {new_key!r}, expected {canned_server.RENEWED_KEY!r}"
            peer.close()
            continue
        checked.append(peer)

    for required in (peers.HTTP_CLIENT, peers.URLLIB3, peers.LITEPOLIS):
        if required in unavailable:
            raise SystemExit(f"cannot benchmark without {required}: {unavailable[required]}")
    return checked


def measure(
    server: canned_server.ServerProcess,
    settings: report.Settings,
    generated: Dict[str, Path],
    unavailable: Dict[str, str],
    pycache_prefix: Path,
    *,
    quick: bool,
) -> report.Results:
    """Run every measurement against `server` and collect the results."""
    load_at_start = report.load_average()
    url = server.url
    available = build_peers(url, generated, unavailable)
    labels = {peer.id: peer.label for peer in available}

    _progress(f"per-call cost: {len(available)} clients x {settings.rounds} rounds x {settings.calls_per_round} calls")
    call_costs = measurements.per_call_cost(
        available, settings.rounds, settings.calls_per_round, settings.warmup_calls
    )
    for peer in available:
        peer.close()

    _progress(f"cold import + first call: {settings.cold_runs} processes per variant")
    variants: Dict[str, Optional[Path]] = {
        "dependencies": None,
        "dependencies_unloaded": None,
        "pydantic_floor": None,
        "litepolis_client": None,
    }
    for peer_id in (peers.STOCK, peers.OPC):
        if peer_id in labels:
            variants[peer_id] = generated[peer_id]
    cold_ms = measurements.cold_start_ms(url, variants, settings.cold_runs, pycache_prefix)

    _progress(f"throughput: {settings.threads} threads x {settings.calls_per_thread} calls")
    shared_client = peers.litepolis_peer(url)
    shared_pool = peers.urllib3_peer(url, urllib3.PoolManager(maxsize=settings.threads))
    timeouts_pool = peers.urllib3_peer(url, peers.urllib3_timeouts_pool(settings.threads))
    try:
        throughput = measurements.threaded_throughput(
            {
                peers.URLLIB3: shared_pool.call,
                report.URLLIB3_WITH_TIMEOUTS: timeouts_pool.call,
                peers.LITEPOLIS: shared_client.call,
            },
            settings.threads,
            settings.calls_per_thread,
            settings.throughput_rounds,
            server.pid,
        )
    finally:
        shared_client.close()
        shared_pool.close()
        timeouts_pool.close()

    _progress(f"RSS growth: {RSS_CALLS[quick]} calls after {RSS_WARMUP_CALLS[quick]} warm-up calls")
    rss = measurements.rss_growth(url, RSS_WARMUP_CALLS[quick], RSS_CALLS[quick], pycache_prefix)

    _progress(f"profile: {settings.profile_calls} calls under cProfile")
    profiled = peers.litepolis_peer(url)
    try:
        profile = measurements.profile_calls(profiled.call, settings.profile_calls, PROFILE_TOP)
    finally:
        profiled.close()

    return report.Results(
        settings=settings,
        labels=labels,
        unavailable=unavailable,
        call_costs=call_costs,
        cold_ms=cold_ms,
        throughput=throughput,
        rss=rss,
        profile=profile,
        load_average=(load_at_start, report.load_average()),
    )


def _progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
