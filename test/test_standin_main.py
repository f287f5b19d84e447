"""`python -m litepolis_client.testing` serves a stand-in that the command line can use."""

import os
import signal
import stat
import subprocess
import sys

import pytest

from litepolis_client import cli


@pytest.fixture
def standin_process(tmp_path):
    key_file = tmp_path / "litepolis-key"
    process = subprocess.Popen(
        [sys.executable, "-m", "litepolis_client.testing", "--key-file", str(key_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        yield process, url, key_file
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        process.stdout.close()
        process.stderr.close()


def test_prints_loopback_url(standin_process):
    _, url, _ = standin_process

    assert url.startswith("http://127.0.0.1:")


def test_key_file_private(standin_process):
    _, _, key_file = standin_process

    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


def test_cli_renews_against_it(standin_process):
    _, url, key_file = standin_process
    old_key = key_file.read_text(encoding="utf-8").strip()

    renew_code = cli.main(["--host", url, "--key-file", str(key_file), "renew"])
    whoami_code = cli.main(["--host", url, "--key-file", str(key_file), "whoami"])

    assert renew_code == cli.EXIT_OK
    assert whoami_code == cli.EXIT_OK
    assert key_file.read_text(encoding="utf-8").strip() != old_key


def test_sigterm_stops_cleanly(standin_process):
    process, _, _ = standin_process

    process.send_signal(signal.SIGTERM)

    assert process.wait(timeout=15) == 0
