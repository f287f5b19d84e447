"""The litepolis-client command, run in-process through main() and as ``python -m litepolis_client``.

Every server here is the stand-in or a tiny socket server on 127.0.0.1, and
every run passes --host, so no default host is ever contacted.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Iterator, List

import pytest

import litepolis_client
import litepolis_client._retry
from litepolis_client import _keyfile, cli
from litepolis_client.configuration import ENV_API_KEY, ENV_API_KEY_FILE, ENV_HOST
from litepolis_client.testing import StandInServer

LOOPBACK = "127.0.0.1"

# Bounds for the tiny servers and the subprocesses, so a bug fails a test
# instead of hanging it.
SOCKET_TIMEOUT_SECONDS = 10.0
SUBPROCESS_TIMEOUT_SECONDS = 60.0

IS_ROOT = getattr(os, "geteuid", lambda: -1)() == 0


@dataclasses.dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    # Retries of refused connections would otherwise wait for their backoff.
    monkeypatch.setattr(litepolis_client._retry, "sleep", lambda seconds: None)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    def run(*argv: str) -> Run:
        exit_code = cli.main(list(argv))
        captured = capsys.readouterr()
        return Run(exit_code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    """A stand-in shared by the tests of this module; each test seeds its own user."""
    with StandInServer() as shared:
        yield shared


@pytest.fixture
def user(server):
    return server.add_user(f"ada-{uuid.uuid4().hex}@example.org", role="user")


@pytest.fixture
def key_file(tmp_path: Path, user) -> Path:
    path = tmp_path / "keys" / "litepolis-key"
    path.parent.mkdir()
    path.write_text(user.key + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def closed_port() -> int:
    """Return a 127.0.0.1 port that nothing listens on, so connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class TinyServer:
    """Accept connections on 127.0.0.1, read one request from each, send `reply` and close.

    An empty `reply` closes the connection without a response.
    """

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.requests: List[bytes] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen()
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def __enter__(self) -> "TinyServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopping.set()
        self._thread.join(SOCKET_TIMEOUT_SECONDS)
        self._listener.close()
        assert not self._thread.is_alive()

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._listener.accept()
            except socket.timeout:
                continue
            with connection:
                connection.settimeout(SOCKET_TIMEOUT_SECONDS)
                self.requests.append(self._read_head(connection))
                if self.reply:
                    connection.sendall(self.reply)

    @staticmethod
    def _read_head(connection: socket.socket) -> bytes:
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


def http_reply(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def directory_listing(path: Path) -> List[str]:
    return sorted(os.listdir(path))


def file_mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def assert_no_key_in(text: str, *keys: str) -> None:
    """Check that no key, not even its masked prefix, is in `text`."""
    for key in keys:
        assert key not in text
        assert key[: cli.VISIBLE_KEY_CHARS] not in text


# renew


def test_renew_writes_new_live_key(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_OK
    new_key = key_file.read_text(encoding="utf-8")
    assert new_key.endswith("\n")
    new_key = new_key.strip()
    assert server.live_keys(user.id) == [new_key]
    assert not server.is_live(user.key)
    assert file_mode(key_file) == 0o600
    assert directory_listing(key_file.parent) == [key_file.name]


def test_renew_output_masks_key(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    new_key = key_file.read_text(encoding="utf-8").strip()
    assert result.exit_code == cli.EXIT_OK
    assert result.stdout == f"API key renewed; the new key {new_key[:8]}... is in {key_file}\n"
    assert new_key not in result.stdout
    assert user.key not in result.stdout
    assert result.stderr == ""


def test_renew_show_key_prints_full_key(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew", "--show-key")

    new_key = key_file.read_text(encoding="utf-8").strip()
    assert result.exit_code == cli.EXIT_OK
    assert new_key in result.stdout
    assert user.key not in result.stdout
    assert_no_key_in(result.stderr, user.key, new_key)


def test_renew_json_masks_key(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "--json", "renew")

    new_key = key_file.read_text(encoding="utf-8").strip()
    assert result.exit_code == cli.EXIT_OK
    assert json.loads(result.stdout) == {
        "ok": True,
        "command": "renew",
        "host": server.url,
        "key_file": str(key_file),
        "api_key": new_key[:8] + "...",
        "api_key_masked": True,
    }
    assert new_key not in result.stdout
    assert result.stderr == ""


def test_renew_json_show_key(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "--json", "renew", "--show-key")

    document = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_OK
    assert document["api_key"] == key_file.read_text(encoding="utf-8").strip()
    assert document["api_key_masked"] is False
    assert server.is_live(document["api_key"])


def test_renew_options_after_command(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("renew", "--host", server.url, "--key-file", str(key_file), "--json")

    assert result.exit_code == cli.EXIT_OK
    assert json.loads(result.stdout)["key_file"] == str(key_file)
    assert not server.is_live(user.key)


def test_renew_twice_chains_keys(run_cli, server, user, key_file: Path) -> None:
    first = run_cli("--host", server.url, "--key-file", str(key_file), "renew")
    middle_key = key_file.read_text(encoding="utf-8").strip()
    second = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert first.exit_code == cli.EXIT_OK
    assert second.exit_code == cli.EXIT_OK
    assert server.live_keys(user.id) == [key_file.read_text(encoding="utf-8").strip()]
    assert not server.is_live(middle_key)


def test_renew_keeps_backup_until_replace(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    """While the new file is renamed into place, <key file>.bak contains the old key with mode 0600."""
    backup = Path(str(key_file) + _keyfile.BACKUP_SUFFIX)
    seen = []
    real_replace = os.replace

    def spying_replace(source, destination):
        if os.fspath(destination) == str(key_file):
            seen.append((backup.read_text(encoding="utf-8"), file_mode(backup), file_mode(Path(source))))
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", spying_replace)
    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_OK
    assert seen == [(user.key + "\n", 0o600, 0o600)]
    assert not backup.exists()


def test_renew_overwrites_stale_backup(run_cli, server, user, key_file: Path) -> None:
    backup = Path(str(key_file) + _keyfile.BACKUP_SUFFIX)
    backup.write_text("left over from an earlier run\n", encoding="utf-8")

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_OK
    assert directory_listing(key_file.parent) == [key_file.name]


def test_renew_mode_0600_from_readable_file(run_cli, server, user, key_file: Path) -> None:
    # A world-readable old file does not make the new one readable.
    key_file.chmod(0o644)

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_OK
    assert file_mode(key_file) == 0o600


def test_renew_follows_symlink(run_cli, server, user, key_file: Path) -> None:
    link = key_file.parent / "link-to-key"
    link.symlink_to(key_file.name)

    result = run_cli("--host", server.url, "--key-file", str(link), "renew")

    assert result.exit_code == cli.EXIT_OK
    assert link.is_symlink()
    assert server.live_keys(user.id) == [key_file.read_text(encoding="utf-8").strip()]


def test_renew_key_file_from_environment(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))
    monkeypatch.setenv(ENV_HOST, server.url)

    result = run_cli("--host", server.url, "renew")

    assert result.exit_code == cli.EXIT_OK
    assert server.live_keys(user.id) == [key_file.read_text(encoding="utf-8").strip()]


def test_renew_environment_key_creates_file(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, tmp_path: Path
) -> None:
    monkeypatch.setenv(ENV_API_KEY, user.key)
    key_file = tmp_path / "new-key"

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_OK
    new_key = key_file.read_text(encoding="utf-8").strip()
    assert server.live_keys(user.id) == [new_key]
    assert file_mode(key_file) == 0o600
    assert directory_listing(tmp_path) == ["new-key"]
    assert f"{ENV_API_KEY} still contains the old key" in result.stderr
    assert_no_key_in(result.stderr, user.key, new_key)


def test_renew_key_file_beats_environment_key(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    other = server.add_user(f"grace-{uuid.uuid4().hex}@example.org")
    monkeypatch.setenv(ENV_API_KEY, other.key)

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_OK
    assert not server.is_live(user.key)
    assert server.is_live(other.key)
    assert result.stderr == ""


def test_renew_without_key_file_rejected(run_cli, monkeypatch: pytest.MonkeyPatch, server, user) -> None:
    monkeypatch.setenv(ENV_API_KEY, user.key)

    result = run_cli("--host", server.url, "renew")

    assert result.exit_code == cli.EXIT_USAGE
    assert "--key-file" in result.stderr
    assert server.is_live(user.key)
    assert result.stdout == ""


def test_renew_missing_key_file_without_environment_key(run_cli, server, user, tmp_path: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(tmp_path / "missing"), "renew")

    assert result.exit_code == cli.EXIT_USAGE
    assert "does not exist or is empty" in result.stderr
    assert directory_listing(tmp_path) == []


def test_renew_non_utf8_key_file(run_cli, server, user, key_file: Path) -> None:
    key_file.write_bytes(b"\xff\xfe" + user.key.encode("ascii"))

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_USAGE
    assert "contains characters that are not ASCII" in result.stderr
    assert_no_key_in(result.stderr, user.key)
    assert server.is_live(user.key)


def test_renew_invalid_key_sends_nothing(run_cli, key_file: Path) -> None:
    key_file.write_text("0b9f7c3e-5d1a-4e8b\x01-9c2f-6a7d8e9f0a1b\n", encoding="utf-8")
    before = key_file.read_bytes()

    with TinyServer() as tiny:
        result = run_cli("--host", tiny.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_USAGE
    assert tiny.requests == []
    assert "not printable ASCII" in result.stderr
    assert "Nothing was sent" in result.stderr
    assert key_file.read_bytes() == before
    assert_no_key_in(result.stderr, "0b9f7c3e-5d1a-4e8b")


# renew when the key file cannot be written


@pytest.mark.skipif(IS_ROOT, reason="root ignores directory permissions")
def test_renew_read_only_directory_sends_nothing(run_cli, server, user, key_file: Path) -> None:
    before = key_file.read_bytes()
    key_file.parent.chmod(0o500)
    try:
        result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")
    finally:
        key_file.parent.chmod(0o700)

    assert result.exit_code == cli.EXIT_USAGE
    assert "Nothing was sent" in result.stderr
    assert server.is_live(user.key)
    assert key_file.read_bytes() == before
    assert directory_listing(key_file.parent) == [key_file.name]


def test_renew_missing_directory_sends_nothing(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, tmp_path: Path
) -> None:
    # Unlike a read-only directory, a missing one stops root too.
    monkeypatch.setenv(ENV_API_KEY, user.key)
    key_file = tmp_path / "missing-directory" / "key"

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_USAGE
    assert f"cannot write the key file {key_file}" in result.stderr
    assert "No such file or directory" in result.stderr
    assert "Nothing was sent" in result.stderr
    assert server.is_live(user.key)
    assert directory_listing(tmp_path) == []
    assert_no_key_in(result.stderr, user.key)


def test_renew_key_file_is_directory(run_cli, monkeypatch: pytest.MonkeyPatch, server, user, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV_API_KEY, user.key)

    result = run_cli("--host", server.url, "--key-file", str(tmp_path), "renew")

    assert result.exit_code == cli.EXIT_USAGE
    assert f"the API key file {str(tmp_path)!r} is not a regular file" in result.stderr
    assert server.is_live(user.key)


def fail_replace_into(monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
    real_replace = os.replace

    def failing_replace(source, destination):
        if os.fspath(destination) == str(target):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(destination))
        return real_replace(source, destination)

    monkeypatch.setattr(os, "replace", failing_replace)


def fail_second_temporary_file(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Let the writability probe create its file, then fail the temporary file of the new key."""
    real_open = os.open
    created = []

    def failing_open(path, flags, mode=0o777, *args, **kwargs):
        is_ours = os.fspath(path).startswith(str(directory)) and os.fspath(path).endswith(".tmp")
        if is_ours:
            created.append(path)
            if len(created) == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)


@pytest.mark.parametrize(
    "failure",
    [
        "rename into the key file",
        "rename into the backup",
        "create the temporary file",
    ],
)
def test_renew_unwritable_key_printed(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path, failure: str
) -> None:
    """The hook fails after the server renewed the key: the new key goes to stdout, nowhere else."""
    before = key_file.read_bytes()
    if failure == "rename into the key file":
        fail_replace_into(monkeypatch, key_file)
    elif failure == "rename into the backup":
        fail_replace_into(monkeypatch, Path(str(key_file) + _keyfile.BACKUP_SUFFIX))
    else:
        fail_second_temporary_file(monkeypatch, key_file.parent)

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    new_key = result.stdout.strip()
    assert result.exit_code == cli.EXIT_KEY_NOT_STORED
    assert server.live_keys(user.id) == [new_key]
    assert result.stdout == new_key + "\n"
    assert key_file.read_bytes() == before
    assert directory_listing(key_file.parent) == [key_file.name]
    assert f"could not be written to {key_file}" in result.stderr
    assert "printed on stdout" in result.stderr
    assert_no_key_in(result.stderr, user.key, new_key)


def test_renew_directory_sync_failure_keeps_backup(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    """The new file is in place but maybe not on disk: exit 7, key on stdout, backup kept."""

    def failing_sync(directory):
        raise OSError(errno.EIO, os.strerror(errno.EIO), directory)

    monkeypatch.setattr(_keyfile, "_fsync_directory", failing_sync)
    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    new_key = result.stdout.strip()
    assert result.exit_code == cli.EXIT_KEY_NOT_STORED
    assert server.live_keys(user.id) == [new_key]
    assert key_file.read_text(encoding="utf-8") == new_key + "\n"
    assert Path(str(key_file) + _keyfile.BACKUP_SUFFIX).read_text(encoding="utf-8") == user.key + "\n"
    assert "could not be synced" in result.stderr
    assert_no_key_in(result.stderr, user.key, new_key)


@pytest.mark.skipif(IS_ROOT, reason="root ignores directory permissions")
def test_renew_directory_turns_read_only(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    """The directory loses write permission after the check and before the hook writes."""
    real_replace = cli.KeyFile.replace
    before = key_file.read_bytes()

    def replace_in_read_only_directory(self, key):
        key_file.parent.chmod(0o500)
        return real_replace(self, key)

    monkeypatch.setattr(cli.KeyFile, "replace", replace_in_read_only_directory)
    try:
        result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")
    finally:
        key_file.parent.chmod(0o700)

    new_key = result.stdout.strip()
    assert result.exit_code == cli.EXIT_KEY_NOT_STORED
    assert server.live_keys(user.id) == [new_key]
    assert key_file.read_bytes() == before
    assert directory_listing(key_file.parent) == [key_file.name]
    assert "Permission denied" in result.stderr


class BrokenStdout:
    def write(self, text: str) -> int:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    def flush(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


def test_renew_unwritable_and_stdout_broken(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server, user, key_file: Path
) -> None:
    fail_replace_into(monkeypatch, key_file)
    monkeypatch.setattr(sys, "stdout", BrokenStdout())

    exit_code = cli.main(["--host", server.url, "--key-file", str(key_file), "renew"])

    stderr = capsys.readouterr().err
    (new_key,) = server.live_keys(user.id)
    assert exit_code == cli.EXIT_KEY_NOT_STORED
    assert "stdout is not writable" in stderr
    # With stdout gone, stderr is the last place the only copy of the key can go.
    assert stderr.splitlines()[-1] == new_key
    assert user.key[:8] not in stderr


def test_renew_unwritable_key_in_json(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    fail_replace_into(monkeypatch, key_file)

    result = run_cli("--host", server.url, "--key-file", str(key_file), "--json", "renew")

    document = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_KEY_NOT_STORED
    assert document["ok"] is False
    assert document["exit_code"] == cli.EXIT_KEY_NOT_STORED
    assert document["error"] == "key_not_stored"
    assert document["api_key_masked"] is False
    assert server.live_keys(user.id) == [document["api_key"]]
    assert document["api_key"] not in document["message"]
    assert_no_key_in(result.stderr, user.key, document["api_key"])


# renew when the outcome is unknown


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b"", id="connection closed after the request"),
        pytest.param(http_reply("500 Internal Server Error", "application/json", b'{"detail":"boom"}'), id="HTTP 500"),
        pytest.param(http_reply("200 OK", "application/json", b'{"detail":'), id="cut-short body"),
    ],
)
def test_renew_outcome_unknown_leaves_file(run_cli, tmp_path: Path, reply: bytes) -> None:
    key = "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b"
    key_file = tmp_path / "key"
    key_file.write_bytes(key.encode("ascii") + b"\n")
    key_file.chmod(0o600)
    before = key_file.read_bytes()

    with TinyServer(reply) as server:
        result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_RENEWAL_UNKNOWN
    assert len(server.requests) == 1
    assert server.requests[0].startswith(b"PUT /api/v1/secure/users/renew ")
    assert key_file.read_bytes() == before
    assert directory_listing(tmp_path) == ["key"]
    assert "the renewal outcome is unknown" in result.stderr
    assert f"The key file {key_file} was left untouched" in result.stderr
    assert "whoami" in result.stderr
    assert "logging in again" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert_no_key_in(result.stderr, key)


def test_renew_outcome_unknown_json(run_cli, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b\n", encoding="utf-8")

    with TinyServer() as server:
        result = run_cli("--host", server.url, "--key-file", str(key_file), "--json", "renew")

    document = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_RENEWAL_UNKNOWN
    assert document["error"] == "renewal_outcome_unknown"
    assert document["exit_code"] == cli.EXIT_RENEWAL_UNKNOWN
    assert "api_key" not in document


def test_renew_interrupted_leaves_file(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    before = key_file.read_bytes()

    def interrupted(self, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.APIKeysApi, "update_usertoken_api_v1_secure_users_renew_put", interrupted)
    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_INTERRUPTED
    assert "the renewal outcome is unknown" in result.stderr
    assert key_file.read_bytes() == before
    assert directory_listing(key_file.parent) == [key_file.name]


# whoami


def test_whoami_shows_user(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "whoami")

    assert result.exit_code == cli.EXIT_OK
    assert result.stdout == f"id:    {user.id}\nemail: {user.email}\nrole:  user\n"
    assert result.stderr == ""


def test_whoami_json(run_cli, server, user, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "--json", "whoami")

    assert result.exit_code == cli.EXIT_OK
    assert json.loads(result.stdout) == {
        "ok": True,
        "command": "whoami",
        "host": server.url,
        "user": {"id": user.id, "email": user.email, "role": "user"},
    }


def test_whoami_environment_key(run_cli, monkeypatch: pytest.MonkeyPatch, server, user) -> None:
    monkeypatch.setenv(ENV_API_KEY, user.key)

    result = run_cli("--host", server.url, "whoami")

    assert result.exit_code == cli.EXIT_OK
    assert f"email: {user.email}" in result.stdout


def test_whoami_without_key(run_cli, server) -> None:
    result = run_cli("--host", server.url, "whoami")

    assert result.exit_code == cli.EXIT_USAGE
    assert "no API key" in result.stderr


def test_whoami_key_file_does_not_change(run_cli, server, user, key_file: Path) -> None:
    before = key_file.read_bytes()

    run_cli("--host", server.url, "--key-file", str(key_file), "whoami")

    assert key_file.read_bytes() == before
    assert server.is_live(user.key)


# health


def test_health_ok(run_cli, server) -> None:
    result = run_cli("--host", server.url, "health")

    assert result.exit_code == cli.EXIT_OK
    assert result.stdout == "OK\n"
    assert result.stderr == ""


def test_health_json(run_cli, server) -> None:
    result = run_cli("--host", server.url, "--json", "health")

    assert result.exit_code == cli.EXIT_OK
    assert json.loads(result.stdout) == {"ok": True, "command": "health", "host": server.url, "detail": "OK"}


def test_health_database_down(run_cli, litepolis_server) -> None:
    litepolis_server.set_database_up(False)

    result = run_cli("--host", litepolis_server.url, "health")

    assert result.exit_code == cli.EXIT_UNHEALTHY
    assert "reports 'DB conn failed'" in result.stderr
    assert result.stdout == ""


def test_health_database_down_json(run_cli, litepolis_server) -> None:
    litepolis_server.set_database_up(False)

    result = run_cli("--host", litepolis_server.url, "--json", "health")

    document = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_UNHEALTHY
    assert document["ok"] is False
    assert document["detail"] == "DB conn failed"
    assert document["error"] == "unhealthy"


def test_health_ignores_key_variables(run_cli, monkeypatch: pytest.MonkeyPatch, server, tmp_path: Path) -> None:
    # health sends no key, so a missing key file named in the environment does not matter.
    monkeypatch.setenv(ENV_API_KEY_FILE, str(tmp_path / "missing"))

    result = run_cli("--host", server.url, "health")

    assert result.exit_code == cli.EXIT_OK


# Failures of the server or the network


def test_revoked_key_auth_failure(run_cli, server, user, key_file: Path) -> None:
    revoked = user.key
    run_cli("--host", server.url, "--key-file", str(key_file), "renew")
    key_file.write_text(revoked + "\n", encoding="utf-8")

    whoami = run_cli("--host", server.url, "--key-file", str(key_file), "whoami")
    renew = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert whoami.exit_code == cli.EXIT_AUTH_FAILED
    assert renew.exit_code == cli.EXIT_AUTH_FAILED
    assert "HTTP 401 Unauthorized" in whoami.stderr
    assert f"The key file {key_file} was left untouched" in renew.stderr
    assert key_file.read_text(encoding="utf-8") == revoked + "\n"
    assert directory_listing(key_file.parent) == [key_file.name]
    assert_no_key_in(whoami.stderr + renew.stderr, revoked)
    assert whoami.stdout == renew.stdout == ""


def test_auth_failure_json(run_cli, monkeypatch: pytest.MonkeyPatch, server) -> None:
    monkeypatch.setenv(ENV_API_KEY, "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b")

    result = run_cli("--host", server.url, "--json", "whoami")

    document = json.loads(result.stdout)
    assert result.exit_code == cli.EXIT_AUTH_FAILED
    assert document == {
        "ok": False,
        "command": "whoami",
        "exit_code": cli.EXIT_AUTH_FAILED,
        "error": "auth_failed",
        "message": document["message"],
    }
    assert "0b9f7c3e" not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["health", "whoami", "renew"])
def test_closed_port_network_failure(run_cli, tmp_path: Path, command: str) -> None:
    key = "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b"
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n", encoding="utf-8")
    before = key_file.read_bytes()

    result = run_cli("--host", f"http://{LOOPBACK}:{closed_port()}", "--key-file", str(key_file), command)

    assert result.exit_code == cli.EXIT_NETWORK_ERROR
    assert "Connection refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert key_file.read_bytes() == before
    assert directory_listing(tmp_path) == ["key"]
    assert_no_key_in(result.stderr, key)


def test_read_timeout_network_failure(run_cli) -> None:
    # The server reads the request and never responds: --timeout bounds the wait.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind((LOOPBACK, 0))
    listener.listen()
    try:
        port = listener.getsockname()[1]
        result = run_cli("--host", f"http://{LOOPBACK}:{port}", "--timeout", "0.2", "health")
    finally:
        listener.close()

    assert result.exit_code == cli.EXIT_NETWORK_ERROR


@pytest.mark.parametrize(
    "command, reply",
    [
        ("whoami", http_reply("200 OK", "text/html", b"<html>not the API</html>")),
        ("health", http_reply("404 Not Found", "application/json", b'{"detail":"Not Found"}')),
        # A JSON response without a detail string.
        ("health", http_reply("200 OK", "application/json", b'{"status":"fine"}')),
        ("whoami", http_reply("200 OK", "application/json", b'{"detail":"not a user"}')),
    ],
)
def test_unexpected_response(run_cli, monkeypatch: pytest.MonkeyPatch, command: str, reply: bytes) -> None:
    monkeypatch.setenv(ENV_API_KEY, "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b")

    with TinyServer(reply) as server:
        result = run_cli("--host", server.url, command)

    assert result.exit_code == cli.EXIT_UNEXPECTED_RESPONSE
    assert server.url in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


# Usage


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no command
        ["--host", "ftp://127.0.0.1", "health"],
        ["--host", "127.0.0.1", "health"],
        ["--timeout", "0", "health"],
        ["--timeout", "-1", "health"],
        ["--timeout", "nan", "health"],
        ["--timeout", "soon", "health"],
        ["whoami", "--show-key"],  # --show-key belongs to renew
        ["frobnicate"],
    ],
)
def test_usage_errors(run_cli, argv: List[str]) -> None:
    result = run_cli(*argv)

    assert result.exit_code == cli.EXIT_USAGE
    assert "usage: litepolis-client" in result.stderr
    assert result.stdout == ""


def test_invalid_host_from_environment(run_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_HOST, "ftp://127.0.0.1")

    result = run_cli("health")

    assert result.exit_code == cli.EXIT_USAGE
    assert ENV_HOST in result.stderr


def test_host_from_environment(run_cli, monkeypatch: pytest.MonkeyPatch, server) -> None:
    monkeypatch.setenv(ENV_HOST, server.url)

    result = run_cli("--json", "health")

    assert result.exit_code == cli.EXIT_OK
    assert json.loads(result.stdout)["host"] == server.url


def test_help_lists_exit_codes(run_cli) -> None:
    result = run_cli("--help")

    assert result.exit_code == cli.EXIT_OK
    for code, name, _ in cli.EXIT_CODE_MEANINGS:
        assert f"{code:>3}  {name}" in result.stdout
        assert f"{code}  {name}" in cli.__doc__
        assert getattr(cli, name) == code


def test_exit_codes_distinct() -> None:
    codes = [code for code, _, _ in cli.EXIT_CODE_MEANINGS]

    assert len(set(codes)) == len(codes)


def test_version(run_cli) -> None:
    result = run_cli("--version")

    assert result.exit_code == cli.EXIT_OK
    assert result.stdout == f"litepolis-client {litepolis_client.__version__}\n"


@pytest.mark.parametrize(
    "key, expected",
    [
        ("0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b", "0b9f7c3e..."),
        ("short-key", "..."),  # under 16 characters, so 8 of them would show half or more
    ],
)
def test_mask_key(key: str, expected: str) -> None:
    assert cli.mask_key(key) == expected


# Secrets in the output


def test_key_only_shown_with_show_key(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    """Across successes and failures, no full key reaches stdout or stderr without --show-key."""
    options = ["--host", server.url, "--key-file", str(key_file)]
    runs = [run_cli(*options, "whoami"), run_cli(*options, "--json", "whoami"), run_cli(*options, "health")]
    runs.append(run_cli(*options, "renew"))
    second_key = key_file.read_text(encoding="utf-8").strip()
    runs.append(run_cli(*options, "--json", "renew"))
    third_key = key_file.read_text(encoding="utf-8").strip()
    monkeypatch.setenv(ENV_API_KEY, user.key)
    runs.append(run_cli("--host", server.url, "whoami"))
    runs.append(run_cli("--host", f"http://{LOOPBACK}:{closed_port()}", "--key-file", str(key_file), "renew"))

    for run in runs:
        for key in (user.key, second_key, third_key):
            assert key not in run.stdout
            assert key not in run.stderr
            assert key[:8] not in run.stderr


# python -m litepolis_client


def run_module(*argv: str, timeout: float = SUBPROCESS_TIMEOUT_SECONDS) -> subprocess.CompletedProcess:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LITEPOLIS_")}
    return subprocess.run(
        [sys.executable, "-m", "litepolis_client", *argv],
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


def test_module_renew_writes_file(server, user, key_file: Path) -> None:
    process = run_module("--host", server.url, "--key-file", str(key_file), "renew")

    new_key = key_file.read_text(encoding="utf-8").strip()
    assert process.returncode == cli.EXIT_OK
    assert server.live_keys(user.id) == [new_key]
    assert not server.is_live(user.key)
    assert file_mode(key_file) == 0o600
    assert directory_listing(key_file.parent) == [key_file.name]
    assert f"{new_key[:8]}..." in process.stdout
    assert new_key not in process.stdout
    assert process.stderr == ""


def test_module_health_exit_codes(litepolis_server) -> None:
    healthy = run_module("--host", litepolis_server.url, "health")
    litepolis_server.set_database_up(False)
    unhealthy = run_module("--host", litepolis_server.url, "--json", "health")

    assert healthy.returncode == cli.EXIT_OK
    assert healthy.stdout == "OK\n"
    assert unhealthy.returncode == cli.EXIT_UNHEALTHY
    assert json.loads(unhealthy.stdout)["detail"] == "DB conn failed"


def test_module_outcome_unknown(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b\n", encoding="utf-8")
    before = key_file.read_bytes()

    with TinyServer() as server:
        process = run_module("--host", server.url, "--key-file", str(key_file), "renew")

    assert process.returncode == cli.EXIT_RENEWAL_UNKNOWN
    assert key_file.read_bytes() == before
    assert directory_listing(tmp_path) == ["key"]
    assert "Traceback" not in process.stderr
    assert "0b9f7c3e" not in process.stderr


def test_module_usage_error() -> None:
    process = run_module("--timeout", "0", "health")

    assert process.returncode == cli.EXIT_USAGE
    assert "usage: litepolis-client" in process.stderr


def test_renew_interrupted_while_storing_prints_key(
    run_cli, monkeypatch: pytest.MonkeyPatch, server, user, key_file: Path
) -> None:
    def interrupted_replace(self, key):
        raise KeyboardInterrupt

    monkeypatch.setattr(_keyfile.KeyFile, "replace", interrupted_replace)

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    (new_key,) = server.live_keys(user.id)
    assert result.exit_code == cli.EXIT_KEY_NOT_STORED
    assert result.stdout.strip() == new_key
    assert key_file.read_text(encoding="utf-8").strip() == user.key


def test_renew_non_key_detail_unknown(run_cli, server, user, key_file: Path) -> None:
    server.fail_next(1, 200, {"detail": "Not authenticated", "status_code": 403}, path="/api/v1/secure/users/renew")

    result = run_cli("--host", server.url, "--key-file", str(key_file), "renew")

    assert result.exit_code == cli.EXIT_RENEWAL_UNKNOWN
    assert key_file.read_text(encoding="utf-8").strip() == user.key


def test_timeout_above_maximum_rejected(run_cli, server, key_file: Path) -> None:
    result = run_cli("--host", server.url, "--key-file", str(key_file), "--timeout", "604801", "whoami")

    assert result.exit_code == cli.EXIT_USAGE
    assert "Traceback" not in result.stderr
