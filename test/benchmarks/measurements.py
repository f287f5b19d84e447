"""The measurements: per-call CPU, cold start, threaded throughput, RSS growth and a profile.

The functions return plain numbers. ``run.py`` decides the counts, and
``report.py`` formats the results. Cold start and RSS growth run in fresh
child interpreters so that nothing the parent imported or allocated counts
against them.
"""

from __future__ import annotations

import cProfile
import dataclasses
import gc
import json
import os
import pstats
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import canned_server
from peers import Peer

CHILD_TIMEOUT_SECONDS = 120
# Calls per peer over which cProfile counts function calls. Every call makes the same count.
FUNCTION_COUNT_CALLS = 100
KIB = 1024
# Memory is reported in MB of 10^6 bytes.
MB = 1_000_000


# Per-call CPU and wall time.


@dataclasses.dataclass
class CallCost:
    """Median cost of one call over several rounds, in microseconds."""

    cpu_us: float
    wall_us: float
    cpu_us_rounds: List[float]
    function_calls: float

    @property
    def cpu_us_spread(self) -> str:
        """The lowest and highest round, as ``low-high``."""
        return f"{min(self.cpu_us_rounds):.0f}-{max(self.cpu_us_rounds):.0f}"


def per_call_cost(peers: Sequence[Peer], rounds: int, calls: int, warmup: int) -> Dict[str, CallCost]:
    """Time `calls` calls of every peer per round and return each peer's median round.

    The peers take turns within each round, so a slow phase of the machine
    affects all of them alike instead of one.
    """
    for peer in peers:
        for _ in range(warmup):
            peer.call()

    cpu: Dict[str, List[float]] = {peer.id: [] for peer in peers}
    wall: Dict[str, List[float]] = {peer.id: [] for peer in peers}
    for _ in range(rounds):
        for peer in peers:
            call = peer.call
            gc.collect()
            cpu_started = time.process_time()
            wall_started = time.perf_counter()
            for _ in range(calls):
                call()
            wall[peer.id].append((time.perf_counter() - wall_started) / calls * 1e6)
            cpu[peer.id].append((time.process_time() - cpu_started) / calls * 1e6)

    return {
        peer.id: CallCost(
            cpu_us=statistics.median(cpu[peer.id]),
            wall_us=statistics.median(wall[peer.id]),
            cpu_us_rounds=cpu[peer.id],
            function_calls=function_calls_per_call(peer.call, FUNCTION_COUNT_CALLS),
        )
        for peer in peers
    }


def function_calls_per_call(call: Callable[[], str], calls: int) -> float:
    """Return how many Python and built-in function calls one call makes, as cProfile counts them.

    Unlike time, the count does not change with the load on the machine.
    """
    call()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    return pstats.Stats(profiler).total_calls / calls  # type: ignore[attr-defined]


# Cold import and first call, each in a fresh interpreter.

# The clock starts at the first statement of the -c script, after the
# interpreter itself has started, so interpreter start-up is left out of both sides of a ratio.
_COLD_START = "import time\n_started = time.perf_counter()\n"
_COLD_END = "\nprint((time.perf_counter() - _started) * 1000)\n"

COLD_SCRIPTS = {
    # The target's baseline: the dependencies loaded as the client's modules
    # import them. pydantic loads its modules on first attribute access, so
    # importing the names that the renewal's response model imports is what
    # loads pydantic itself.
    "dependencies": """
import json, sys
import urllib3, dateutil, typing_extensions
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr
url, key = sys.argv[1], sys.argv[2]
response = urllib3.PoolManager().request("PUT", url + "/api/v1/secure/users/renew", headers={"X-API-Key": key})
assert json.loads(response.data)["detail"]
""",
    # For reference: the same with `import pydantic` alone, which runs only
    # the package's lazy __init__ and loads no models, fields or types.
    "dependencies_unloaded": """
import json, sys
import urllib3, pydantic, dateutil, typing_extensions
url, key = sys.argv[1], sys.argv[2]
response = urllib3.PoolManager().request("PUT", url + "/api/v1/secure/users/renew", headers={"X-API-Key": key})
assert json.loads(response.data)["detail"]
""",
    # What every client with pydantic models pays: the baseline plus
    # pydantic's plugin lookup through importlib.metadata and one model
    # class built and used.
    "pydantic_floor": """
import sys
import urllib3, dateutil, typing_extensions
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr
url, key = sys.argv[1], sys.argv[2]

class Renewal(BaseModel):
    detail: str

response = urllib3.PoolManager().request("PUT", url + "/api/v1/secure/users/renew", headers={"X-API-Key": key})
assert Renewal.model_validate_json(response.data).detail
""",
    "litepolis_client": """
import sys
import litepolis_client
url, key = sys.argv[1], sys.argv[2]
configuration = litepolis_client.Configuration(
    host=url, api_key={"APIKeyHeader": key}, update_api_key_on_renewal=False
)
client = litepolis_client.ApiClient(configuration)
assert litepolis_client.APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put().detail
""",
    "stock": """
import sys
url, key = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
import stock_client
client = stock_client.ApiClient(stock_client.Configuration(host=url, api_key={"APIKeyHeader": key}))
assert stock_client.APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put().detail
""",
    "openapi-python-client": """
import sys
url, key = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
from opc_client import AuthenticatedClient
from opc_client.api.user import update_usertoken_api_v1_secure_users_renew_put as renew
client = AuthenticatedClient(base_url=url, token=key, prefix="", auth_header_name="X-API-Key")
assert renew.sync(client=client).detail
""",
}


def cold_start_ms(
    url: str, variants: Dict[str, Optional[Path]], runs: int, pycache_prefix: Path
) -> Dict[str, float]:
    """Return the median milliseconds from script start to the first parsed response, per variant.

    `variants` maps a key of ``COLD_SCRIPTS`` to the directory that holds
    its generated package, or None. The children keep their bytecode
    caches under `pycache_prefix`, and one untimed run per variant writes
    them first, so every timed run reads compiled bytecode, as an installed
    package would.
    """
    timings: Dict[str, List[float]] = {name: [] for name in variants}
    for name, package_parent in variants.items():
        _run_cold_child(name, url, package_parent, pycache_prefix)
    for _ in range(runs):
        for name, package_parent in variants.items():
            timings[name].append(_run_cold_child(name, url, package_parent, pycache_prefix))
    return {name: statistics.median(values) for name, values in timings.items()}


def _run_cold_child(name: str, url: str, package_parent: Optional[Path], pycache_prefix: Path) -> float:
    script = _COLD_START + COLD_SCRIPTS[name] + _COLD_END
    arguments = [url, canned_server.CALLER_KEY] + ([str(package_parent)] if package_parent else [])
    output = _run_child(script, arguments, pycache_prefix)
    return float(output.strip().splitlines()[-1])


def _run_child(script: str, arguments: List[str], pycache_prefix: Path) -> str:
    # LITEPOLIS_* settings of the shell must not reach the child's Configuration.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LITEPOLIS_")}
    # A shell with PYTHONDONTWRITEBYTECODE would make every child compile the
    # editable checkout from source. The prefix keeps the caches out of the tree.
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = str(pycache_prefix)
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_SECONDS,
        env=environment,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"a benchmark child process failed with exit code {result.returncode}:\n{result.stderr}")
    return result.stdout


# Throughput with threads sharing one client.


@dataclasses.dataclass
class Throughput:
    """Median calls per second over several rounds, with the CPU shares of that round."""

    calls_per_second: float
    client_cpu_share: float
    server_cpu_share: float
    calls_per_second_rounds: List[float]

    @property
    def client_cpu_us_per_call(self) -> float:
        """The client process's CPU time per call in the median round, all threads together."""
        return self.client_cpu_share / self.calls_per_second * 1e6

    @property
    def spread(self) -> str:
        """The slowest and fastest round, as ``low-high``."""
        return f"{min(self.calls_per_second_rounds):,.0f}-{max(self.calls_per_second_rounds):,.0f}"


def threaded_throughput(
    calls: Dict[str, Callable[[], str]],
    threads: int,
    calls_per_thread: int,
    rounds: int,
    server_pid: int,
) -> Dict[str, Throughput]:
    """Run `threads` threads of `calls_per_thread` calls of each shared callable and return the medians.

    A CPU share is CPU seconds divided by the wall seconds of the round.
    A server share near 1.0 means the single-threaded server, not the
    client, limited that round. A client share well below 1.0 means the
    client's threads spent time waiting instead of holding the GIL.
    """
    rates: Dict[str, List[float]] = {name: [] for name in calls}
    client_shares: Dict[str, List[float]] = {name: [] for name in calls}
    server_shares: Dict[str, List[float]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            server_cpu_started = canned_server.cpu_seconds(server_pid)
            seconds, client_cpu = _run_threads(call, threads, calls_per_thread)
            server_cpu = canned_server.cpu_seconds(server_pid) - server_cpu_started
            rates[name].append(threads * calls_per_thread / seconds)
            client_shares[name].append(client_cpu / seconds)
            server_shares[name].append(server_cpu / seconds)

    results = {}
    for name in calls:
        median_rate = statistics.median(rates[name])
        median_round = rates[name].index(min(rates[name], key=lambda rate: abs(rate - median_rate)))
        results[name] = Throughput(
            calls_per_second=median_rate,
            client_cpu_share=client_shares[name][median_round],
            server_cpu_share=server_shares[name][median_round],
            calls_per_second_rounds=rates[name],
        )
    return results


def _run_threads(call: Callable[[], str], threads: int, calls_per_thread: int) -> Tuple[float, float]:
    """Return the wall and process CPU seconds from the common start until every thread has finished."""
    start = threading.Barrier(threads + 1)
    errors: List[BaseException] = []

    def work() -> None:
        try:
            # One untimed call per thread, so the pool has its connections open.
            call()
            start.wait()
            for _ in range(calls_per_thread):
                call()
        except BaseException as exc:
            errors.append(exc)
            start.abort()

    # Daemon threads, so that Ctrl-C ends the run without waiting for them.
    workers = [threading.Thread(target=work, name=f"bench-{index}", daemon=True) for index in range(threads)]
    try:
        for worker in workers:
            worker.start()
        try:
            start.wait()
        except threading.BrokenBarrierError:
            pass
        started = time.perf_counter()
        cpu_started = time.process_time()
        for worker in workers:
            worker.join()
    except BaseException:
        # Release the threads still waiting at the barrier.
        start.abort()
        raise
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    if errors:
        raise RuntimeError(f"{len(errors)} of {threads} benchmark threads failed") from errors[0]
    return seconds, cpu_seconds


# Resident memory over many calls, in a fresh interpreter.

_RSS_SCRIPT = """
import gc, json, resource, sys
import litepolis_client

def rss_kib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmRSS line")

url, key, warmup, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
configuration = litepolis_client.Configuration(
    host=url, api_key={"APIKeyHeader": key}, update_api_key_on_renewal=False
)
api_keys = litepolis_client.APIKeysApi(litepolis_client.ApiClient(configuration))
renew = api_keys.update_usertoken_api_v1_secure_users_renew_put
for _ in range(warmup):
    renew()
gc.collect()
before = rss_kib()
for _ in range(calls):
    renew()
gc.collect()
after = rss_kib()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kib": before, "after_kib": after, "peak_kib": peak}))
"""


@dataclasses.dataclass
class RssGrowth:
    """Resident set size of a fresh process after the warm-up and after the measured calls."""

    warmup_calls: int
    calls: int
    before_mb: float
    after_mb: float
    peak_mb: float

    @property
    def growth_mb(self) -> float:
        return self.after_mb - self.before_mb


def rss_growth(url: str, warmup: int, calls: int, pycache_prefix: Path) -> RssGrowth:
    """Run `warmup` then `calls` renewals of this client in a child and return its VmRSS readings."""
    arguments = [url, canned_server.CALLER_KEY, str(warmup), str(calls)]
    output = _run_child(_RSS_SCRIPT, arguments, pycache_prefix)
    readings = json.loads(output.strip().splitlines()[-1])
    return RssGrowth(
        warmup_calls=warmup,
        calls=calls,
        before_mb=readings["before_kib"] * KIB / MB,
        after_mb=readings["after_kib"] * KIB / MB,
        peak_mb=readings["peak_kib"] * KIB / MB,
    )


# Where the time of one call goes.

# Functions whose cost the profile table lists, by source path or name.
PROFILED_PACKAGES = ("litepolis_client", "pydantic", "urllib3")


@dataclasses.dataclass
class ProfileRow:
    """One function's cost per renewal call under cProfile."""

    function: str
    calls_per_call: float
    cumulative_us: float
    own_us: float


@dataclasses.dataclass
class Profile:
    """The top functions by cumulative and by own time, and own time per package."""

    calls: int
    wall_us: float
    cpu_us: float
    top_cumulative: List[ProfileRow]
    top_own: List[ProfileRow]
    own_us_by_package: Dict[str, float]


def profile_calls(call: Callable[[], str], calls: int, top: int) -> Profile:
    """Profile `calls` calls with cProfile and return the costliest functions.

    ``top_cumulative`` lists functions of litepolis_client, pydantic and
    urllib3 only; ``top_own`` lists any code. cProfile's default timer is
    wall time, so the socket calls include any wait for the server, and its
    per-function overhead inflates functions that are called often.
    """
    for _ in range(min(calls, 500)):
        call()
    profiler = cProfile.Profile()
    wall_started = time.perf_counter()
    cpu_started = time.process_time()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    cpu_us = (time.process_time() - cpu_started) / calls * 1e6
    wall_us = (time.perf_counter() - wall_started) / calls * 1e6

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    rows = []
    own_by_package: Dict[str, float] = {}
    for (filename, line, name), (_, call_count, own, cumulative, _) in stats.items():
        package = _package_of(filename, name)
        own_by_package[package] = own_by_package.get(package, 0.0) + own / calls * 1e6
        row = ProfileRow(
            function=_function_label(filename, line, name),
            calls_per_call=call_count / calls,
            cumulative_us=cumulative / calls * 1e6,
            own_us=own / calls * 1e6,
        )
        rows.append((package, row))

    top_cumulative = sorted(
        (row for package, row in rows if package in PROFILED_PACKAGES),
        key=lambda row: row.cumulative_us,
        reverse=True,
    )[:top]
    top_own = sorted((row for _, row in rows), key=lambda row: row.own_us, reverse=True)[:top]
    return Profile(calls, wall_us, cpu_us, top_cumulative, top_own, own_by_package)


def _package_of(filename: str, name: str) -> str:
    """Return where a profiled function lives, for the own-time summary."""
    for package in PROFILED_PACKAGES:
        if f"/{package}/" in filename or f"/{package}_core/" in filename or f"{package}_core" in name:
            return package
    if filename == "~":
        if "_socket.socket" in name or "select" in name or "poll" in name:
            return "socket and select calls"
        return "other built-ins"
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    path = Path(filename)
    if stdlib in path.parents:
        module = path.relative_to(stdlib).with_suffix("").parts[0]
        return f"stdlib {module}"
    return "other Python code"


def _function_label(filename: str, line: int, name: str) -> str:
    if filename == "~":
        return name
    for package in PROFILED_PACKAGES:
        marker = f"/{package}/"
        if marker in filename:
            return f"{package}/{filename.split(marker, 1)[1]}:{line} {name}"
    path = Path(filename)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    if stdlib in path.parents:
        return f"{path.relative_to(stdlib)}:{line} {name}"
    return f"{path.name}:{line} {name}"
