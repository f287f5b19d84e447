"""Configuration reads LITEPOLIS_HOST, LITEPOLIS_API_KEY and LITEPOLIS_API_KEY_FILE."""

import pytest

from litepolis_client import ApiValueError, Configuration
from litepolis_client.configuration import ENV_API_KEY, ENV_API_KEY_FILE, ENV_HOST

KEY = "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b"
FILE_KEY = "5a50e886-1c2d-4e3f-8a9b-0c1d2e3f4a5b"


def test_environment_fills_host_and_key(monkeypatch):
    monkeypatch.setenv(ENV_HOST, "http://127.0.0.1:8000")
    monkeypatch.setenv(ENV_API_KEY, KEY)

    configuration = Configuration()

    assert configuration.host == "http://127.0.0.1:8000"
    assert configuration.api_key == {"APIKeyHeader": KEY}


def test_explicit_arguments_win(monkeypatch):
    monkeypatch.setenv(ENV_HOST, "http://127.0.0.1:8000")
    monkeypatch.setenv(ENV_API_KEY, KEY)

    configuration = Configuration(host="http://127.0.0.1:9000", api_key={"APIKeyHeader": FILE_KEY})

    assert configuration.host == "http://127.0.0.1:9000"
    assert configuration.api_key == {"APIKeyHeader": FILE_KEY}


def test_empty_api_key_dict_is_explicit(monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, KEY)

    assert Configuration(api_key={}).api_key == {}


def test_key_file_read(monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(FILE_KEY + "\n", encoding="utf-8")
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))

    assert Configuration().api_key == {"APIKeyHeader": FILE_KEY}


def test_key_variable_beats_file(monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(FILE_KEY, encoding="utf-8")
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))
    monkeypatch.setenv(ENV_API_KEY, KEY)

    assert Configuration().api_key == {"APIKeyHeader": KEY}


def test_missing_key_file_named(monkeypatch, tmp_path):
    missing = tmp_path / "missing"
    monkeypatch.setenv(ENV_API_KEY_FILE, str(missing))

    with pytest.raises(ApiValueError) as excinfo:
        Configuration()

    assert str(missing) in str(excinfo.value)


def test_empty_key_file_rejected(monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("\n", encoding="utf-8")
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))

    with pytest.raises(ApiValueError, match="is empty"):
        Configuration()


def test_binary_key_file_not_echoed(monkeypatch, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_bytes(b"\xff\xfe" + KEY.encode())
    monkeypatch.setenv(ENV_API_KEY_FILE, str(key_file))

    with pytest.raises(ApiValueError) as excinfo:
        Configuration()

    assert KEY not in str(excinfo.value)
    assert excinfo.value.__cause__ is None


def test_default_host_without_environment():
    assert Configuration().host == "http://localhost"
