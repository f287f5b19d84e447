"""Turn the measurements into tables, target checks, a Markdown page and a bar chart."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import importlib.util
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import peers
from measurements import CallCost, Profile, ProfileRow, RssGrowth, Throughput

# The targets the client is held to. run.py prints PASS or FAIL for each.
MAX_CPU_RATIO_TO_URLLIB3 = 1.10
MAX_COLD_START_RATIO = 1.3
MIN_THREAD_THROUGHPUT_RATIO = 0.9
MAX_RSS_GROWTH_MB = 5.0

# What a full run writes, relative to the repository root.
RESULTS_PAGE_NAME = "docs/benchmarks-results.md"
CHART_NAME = "docs/benchmarks.png"
RESULTS_PAGE = peers.REPOSITORY_ROOT / RESULTS_PAGE_NAME
CHART = peers.REPOSITORY_ROOT / CHART_NAME

VERSIONED_PACKAGES = (
    "litepolis-client",
    "urllib3",
    "pydantic",
    "pydantic-core",
    "python-dateutil",
    "typing-extensions",
    "httpx",
    "attrs",
    "openapi-generator-cli",
    "openapi-python-client",
    "matplotlib",
)
COLD_LABELS = {
    "dependencies": (
        "dependencies alone, loaded as the client imports them (urllib3, dateutil, typing_extensions, "
        "pydantic's BaseModel, ConfigDict, StrictInt, StrictStr + 1 urllib3 call)"
    ),
    "dependencies_unloaded": (
        "the same with `import pydantic` instead, which loads none of pydantic's models (reference only)"
    ),
    "pydantic_floor": "dependencies + pydantic's plugin lookup and one model class, 1 urllib3 call parsed into it",
    "litepolis_client": "import litepolis_client + 1 renewal",
    "stock": "import stock OpenAPI Generator client + 1 renewal",
    "openapi-python-client": "import openapi-python-client client + 1 renewal",
}
COLD_CHART_LABELS = {
    "dependencies": "dependencies (baseline)",
    "dependencies_unloaded": "import pydantic only",
    "pydantic_floor": "pydantic floor",
}
# Measured for reference only: raw urllib3 with the client's timeouts.
URLLIB3_WITH_TIMEOUTS = "urllib3 + timeouts"
THROUGHPUT_LABELS = {
    peers.URLLIB3: "raw urllib3, one shared PoolManager(maxsize=threads)",
    URLLIB3_WITH_TIMEOUTS: (
        "raw urllib3 as above, with the client's default connect and read timeouts, reference only"
    ),
    peers.LITEPOLIS: "litepolis_client, one shared ApiClient",
}


@dataclasses.dataclass
class Settings:
    """The counts of one run."""

    rounds: int
    calls_per_round: int
    warmup_calls: int
    cold_runs: int
    threads: int
    calls_per_thread: int
    throughput_rounds: int
    profile_calls: int


@dataclasses.dataclass
class Results:
    """Everything one run measured, plus what it could not measure and why."""

    settings: Settings
    labels: Dict[str, str]
    unavailable: Dict[str, str]
    call_costs: Dict[str, CallCost]
    cold_ms: Dict[str, float]
    throughput: Dict[str, Throughput]
    rss: RssGrowth
    profile: Profile
    # The 1-minute load average at the start and at the end of the measurements.
    load_average: Tuple[float, float]
    started: datetime.datetime = dataclasses.field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc)
    )


@dataclasses.dataclass
class Target:
    """One target: what it compares, the measured value, the limit, and PASS, FAIL or SKIP."""

    name: str
    measured: str
    limit: str
    outcome: str


# Machine and versions.


def paired_throughput_ratio(client: Throughput, baseline: Throughput) -> float:
    """Return the median over rounds of the client's rate divided by the baseline's rate in the same round.

    The clients take turns within a round, so a pair shares the machine's
    state of the moment, and a slow or fast phase cancels out of the ratio.
    """
    ratios = [
        client_rate / baseline_rate
        for client_rate, baseline_rate in zip(
            client.calls_per_second_rounds, baseline.calls_per_second_rounds, strict=True
        )
    ]
    return statistics.median(ratios)


def load_average() -> float:
    """Return the 1-minute load average: runnable processes, this benchmark's included."""
    return os.getloadavg()[0]


def usable_cores() -> int:
    """Return the number of cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def load_warning(results: Results) -> Optional[str]:
    """Return a warning when the load average had reached the core count before the measurements, else None.

    Only the first reading counts: the 16 threads of the throughput rounds
    raise the load average by themselves, so the reading at the end is high
    even on an idle machine.
    """
    before = results.load_average[0]
    cores = usable_cores()
    if before < cores:
        return None
    return (
        f"warning: the 1-minute load average was {before:.1f} on {cores} cores before the measurements, so "
        "other work shared the machine. Compare the function calls per call of this run with other runs, "
        "not the times."
    )


def can_draw_chart() -> bool:
    """Return whether matplotlib, which draws the chart, can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def measured_package() -> Optional[Path]:
    """Return the folder of the litepolis_client that the benchmark imports, None if it is not installed."""
    spec = importlib.util.find_spec("litepolis_client")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).resolve().parent


def source_warning() -> Optional[str]:
    """Return a warning when the imported litepolis_client is not the one in this checkout, else None."""
    package = measured_package()
    if package is None or package.is_relative_to(peers.REPOSITORY_ROOT):
        return None
    return (
        f"warning: this run measures the litepolis_client in {package}, not the one in "
        f"{peers.REPOSITORY_ROOT}. Install this checkout with pip install -e '.[bench]' to measure it."
    )


def machine_lines(results: Results) -> List[str]:
    """Describe the CPU, cores, kernel, Python and load that the numbers come from."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"CPU: {model}, {os.cpu_count()} logical cores, {usable_cores()} usable by the benchmark",
        f"OS: {platform.system()} {platform.release()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        f"Tree: {_tree_state()}, litepolis_client imported from {measured_package()}",
        "1-minute load average: {:.1f} at the start, {:.1f} at the end of the measurements".format(
            *results.load_average
        ),
    ]


def _tree_state() -> str:
    root = peers.REPOSITORY_ROOT
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        # --no-optional-locks keeps status from rewriting the index of a shared checkout.
        # The files that a run writes do not count as changes to the tree measured.
        changes = subprocess.run(
            [
                "git", "--no-optional-locks", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                "--", ".", f":(exclude){RESULTS_PAGE_NAME}", f":(exclude){CHART_NAME}",
            ],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {commit}" + (" with uncommitted changes" if changes else "")


def package_versions() -> Dict[str, str]:
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# Targets.


def check_targets(results: Results) -> List[Target]:
    """Compare the results with the targets."""
    costs = results.call_costs
    client = costs[peers.LITEPOLIS].cpu_us
    targets = [
        _ratio_target(
            "per-call CPU, litepolis_client / raw urllib3",
            client / costs[peers.URLLIB3].cpu_us,
            f"<= {MAX_CPU_RATIO_TO_URLLIB3:.2f}",
            client / costs[peers.URLLIB3].cpu_us <= MAX_CPU_RATIO_TO_URLLIB3,
        )
    ]
    for peer_id in (peers.STOCK, peers.OPC):
        name = f"per-call CPU, litepolis_client / {peer_id}"
        if peer_id not in costs:
            targets.append(Target(name, "not measured", "< 1.00", "SKIP"))
            continue
        ratio = client / costs[peer_id].cpu_us
        targets.append(_ratio_target(name, ratio, "< 1.00", ratio < 1.0))

    cold_ratio = results.cold_ms["litepolis_client"] / results.cold_ms["dependencies"]
    targets.append(
        _ratio_target(
            "cold import + first call, litepolis_client / dependencies alone",
            cold_ratio,
            f"<= {MAX_COLD_START_RATIO:.2f}",
            cold_ratio <= MAX_COLD_START_RATIO,
        )
    )

    thread_ratio = paired_throughput_ratio(results.throughput[peers.LITEPOLIS], results.throughput[peers.URLLIB3])
    targets.append(
        _ratio_target(
            f"{results.settings.threads}-thread throughput, litepolis_client / raw urllib3",
            thread_ratio,
            f">= {MIN_THREAD_THROUGHPUT_RATIO:.2f}",
            thread_ratio >= MIN_THREAD_THROUGHPUT_RATIO,
        )
    )

    growth = results.rss.growth_mb
    targets.append(
        Target(
            f"RSS growth over {results.rss.calls:,} calls",
            f"{growth:.2f} MB",
            f"< {MAX_RSS_GROWTH_MB:.1f} MB",
            "PASS" if growth < MAX_RSS_GROWTH_MB else "FAIL",
        )
    )
    return targets


def _ratio_target(name: str, ratio: float, limit: str, passed: bool) -> Target:
    # Three decimals, so that a ratio just under a limit does not print as the limit.
    return Target(name, f"{ratio:.3f}x", limit, "PASS" if passed else "FAIL")


# Markdown.


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def summary_tables(results: Results, targets: List[Target]) -> List[str]:
    """Return the Markdown tables of the numbers, ratios and targets (no profile)."""
    settings = results.settings
    costs = results.call_costs
    floor = costs[peers.HTTP_CLIENT].cpu_us
    raw = costs[peers.URLLIB3].cpu_us
    lines = [
        f"### Per-call cost of `PUT {peers.RENEW_PATH}`",
        "",
        f"Median of {_count(settings.rounds, 'round')} of {settings.calls_per_round:,} calls each, "
        f"after {settings.warmup_calls:,} warm-up calls. CPU is this process's `time.process_time`. "
        "Function calls are counted by cProfile and do not vary with the machine's load.",
        "",
    ]
    rows = []
    for peer_id, cost in costs.items():
        rows.append(
            [
                results.labels[peer_id],
                f"{cost.cpu_us:.1f}",
                cost.cpu_us_spread,
                f"{cost.wall_us:.1f}",
                f"{cost.function_calls:.0f}",
                f"{cost.cpu_us / floor:.2f}x",
                f"{cost.cpu_us / raw:.2f}x",
            ]
        )
    for peer_id, reason in results.unavailable.items():
        first_line = reason.splitlines()[0]
        rows.append([peer_id, "not measured", "", "", "", "", first_line])
    header = [
        "client",
        "CPU µs/call",
        "CPU range of rounds",
        "wall µs/call",
        "function calls/call",
        "CPU vs http.client",
        "CPU vs urllib3",
    ]
    lines += _table(header, rows)

    dependencies = results.cold_ms["dependencies"]
    lines += [
        "",
        "### Cold import + first call",
        "",
        f"Median of {settings.cold_runs} fresh `python -c` processes. Wall time runs from the script's "
        "first statement to the parsed response, so interpreter start-up is excluded.",
        "",
    ]
    unloaded = results.cold_ms["dependencies_unloaded"]
    rows = [
        [
            COLD_LABELS[name],
            f"{milliseconds:.1f}",
            f"{milliseconds / dependencies:.2f}x",
            f"{milliseconds / unloaded:.2f}x",
        ]
        for name, milliseconds in results.cold_ms.items()
    ]
    lines += _table(["what", "ms", "vs dependencies (target)", "vs `import pydantic` only"], rows)

    raw = results.throughput[peers.URLLIB3]
    lines += [
        "",
        f"### Throughput, {settings.threads} threads sharing one client",
        "",
        f"{settings.threads} threads x {settings.calls_per_thread} calls, median of "
        f"{_count(settings.throughput_rounds, 'round')}. The clients take turns within a round, and "
        "vs urllib3 is the median of the rounds' ratios. CPU share is CPU seconds per wall second in the "
        "median round: a server share near 1.0 would mean the single-threaded server limited "
        "the round, and a client share well below 1.0 means the client's threads waited.",
        "",
    ]
    rows = [
        [
            THROUGHPUT_LABELS[name],
            f"{throughput.calls_per_second:,.0f}",
            throughput.spread,
            f"{paired_throughput_ratio(throughput, raw):.2f}x",
            f"{throughput.client_cpu_us_per_call:.0f}",
            f"{throughput.client_cpu_share:.2f}",
            f"{throughput.server_cpu_share:.2f}",
        ]
        for name, throughput in results.throughput.items()
    ]
    header = [
        "client",
        "calls/s",
        "range of rounds",
        "vs urllib3",
        "client CPU µs/call",
        "client CPU share",
        "server CPU share",
    ]
    lines += _table(header, rows)

    rss = results.rss
    lines += [
        "",
        "### Resident memory of litepolis_client",
        "",
        f"A fresh process reads VmRSS after {rss.warmup_calls:,} warm-up calls and after "
        f"{rss.calls:,} more (`gc.collect()` before each reading). 1 MB = 10^6 bytes.",
        "",
    ]
    lines += _table(
        ["after warm-up MB", f"after {rss.calls:,} calls MB", "growth MB", "peak MB"],
        [[f"{rss.before_mb:.1f}", f"{rss.after_mb:.1f}", f"{rss.growth_mb:.2f}", f"{rss.peak_mb:.1f}"]],
    )

    lines += ["", "### Ratios and targets", ""]
    lines += _table(
        ["target", "measured", "limit", "result"],
        [[target.name, target.measured, target.limit, f"**{target.outcome}**"] for target in targets],
    )
    return lines


def profile_tables(profile: Profile) -> List[str]:
    """Return the Markdown tables of the profile: top functions, then own time by package."""
    lines = [
        f"### Profile of litepolis_client, {profile.calls:,} calls under cProfile",
        "",
        f"Under the profiler one call took {profile.wall_us:.0f} µs wall and {profile.cpu_us:.0f} µs CPU, "
        "the profiler's overhead included, so shares matter more than absolute numbers. "
        "cProfile times with the wall clock, so the socket calls include any wait for the server.",
        "",
        "Top functions of litepolis_client, pydantic and urllib3 by cumulative time "
        "(their own time plus that of everything they call):",
        "",
    ]
    lines += _profile_rows(profile.top_cumulative, profile.wall_us)
    lines += ["", "Top functions of any code by own time (excluding what they call):", ""]
    lines += _profile_rows(profile.top_own, profile.wall_us)

    lines += ["", "Own time per renewal, by where the code lives:", ""]
    shares = sorted(profile.own_us_by_package.items(), key=lambda item: item[1], reverse=True)
    lines += _table(
        ["code", "own µs", "share"],
        [[name, f"{own:.1f}", f"{own / profile.wall_us:.0%}"] for name, own in shares],
    )
    return lines


def _profile_rows(rows: List[ProfileRow], total_us: float) -> List[str]:
    return _table(
        ["function", "calls per renewal", "cumulative µs", "own µs", "own share"],
        [
            [
                f"`{row.function}`",
                f"{row.calls_per_call:g}",
                f"{row.cumulative_us:.1f}",
                f"{row.own_us:.1f}",
                f"{row.own_us / total_us:.0%}",
            ]
            for row in rows
        ],
    )


def markdown_page(results: Results, targets: List[Target], command: str, chart: Optional[str]) -> str:
    """Return the whole results page."""
    date = results.started.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `{command}` on {date}. Rerun the command to refresh this page. "
        "[benchmarks.md](benchmarks.md) explains the method and each number.",
        "",
        "## Machine",
        "",
    ]
    lines += [f"- {line}" for line in machine_lines(results)]
    warning = load_warning(results)
    if warning:
        lines += ["", warning[0].upper() + warning[1:]]
    lines += ["", "Package versions:", ""]
    lines += _table(["package", "version"], [[name, version] for name, version in package_versions().items()])
    lines += ["", "## Results", ""]
    lines += summary_tables(results, targets)
    if results.unavailable:
        lines += ["", "Peers that could not be measured:", ""]
        for peer_id, reason in results.unavailable.items():
            lines += [f"- {peer_id}:", "", "  ```", *["  " + line for line in reason.splitlines()], "  ```"]
    if chart:
        lines += ["", f"![Benchmark chart]({chart})"]
    lines += ["", "## Where the time goes", ""]
    lines += profile_tables(results.profile)
    return "\n".join(lines) + "\n"


# Chart.


def write_chart(results: Results, path: Path) -> None:
    """Draw the four measurements as bar charts into one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    highlight, other = "#c2410c", "#64748b"
    figure, axes = plt.subplots(2, 2, figsize=(12, 8), layout="constrained")
    figure.suptitle(
        f"litepolis_client benchmarks, {results.started:%Y-%m-%d}, Python {platform.python_version()}"
    )

    def bars(axis, names, values, title, unit, highlighted):
        colors = [highlight if name in highlighted else other for name in names]
        axis.barh(names, values, color=colors)
        axis.invert_yaxis()
        axis.set_title(title)
        axis.set_xlabel(unit)
        for index, value in enumerate(values):
            value_text = f"{value:,.0f}" if value >= 1000 else f"{value:,.1f}"
            axis.annotate(f" {value_text}", (value, index), va="center", fontsize=8)
        axis.margins(x=0.2)

    costs = results.call_costs
    bars(
        axes[0][0],
        [_short_label(peer_id) for peer_id in costs],
        [cost.cpu_us for cost in costs.values()],
        "CPU per renewal call (lower is better)",
        "µs",
        {_short_label(peers.LITEPOLIS)},
    )
    bars(
        axes[0][1],
        [COLD_CHART_LABELS.get(name, name) for name in results.cold_ms],
        list(results.cold_ms.values()),
        "Cold import + first call (lower is better)",
        "ms",
        {"litepolis_client"},
    )
    bars(
        axes[1][0],
        list(results.throughput),
        [throughput.calls_per_second for throughput in results.throughput.values()],
        f"{results.settings.threads} threads, one shared client (higher is better)",
        "calls/s",
        {peers.LITEPOLIS},
    )
    rss = results.rss
    bars(
        axes[1][1],
        [f"after {rss.warmup_calls:,} warm-up calls", f"after {rss.calls:,} more calls"],
        [rss.before_mb, rss.after_mb],
        "litepolis_client resident memory",
        "MB",
        set(),
    )
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _short_label(peer_id: str) -> str:
    return {peers.HTTP_CLIENT: "http.client (floor)", peers.STOCK: "stock generator"}.get(peer_id, peer_id)
