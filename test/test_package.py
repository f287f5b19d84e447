"""The public surface of the package and what importing it costs."""

import subprocess
import sys

import litepolis_client


def test_public_names_import():
    from litepolis_client import ApiClient, APIKeysApi, Configuration, ResponseMessage
    from litepolis_client.rest import ApiException

    assert issubclass(ApiException, Exception)
    assert all([APIKeysApi, ApiClient, Configuration, ResponseMessage])


def test_version_matches_metadata():
    from importlib.metadata import version

    assert litepolis_client.__version__ == version("litepolis-client")


def test_import_skips_testing_extra():
    # A fresh interpreter shows what `import litepolis_client` pulls in by
    # itself; the stand-in server and its FastAPI stack must stay out.
    code = (
        "import sys, litepolis_client; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in {'fastapi', 'uvicorn', 'starlette'} "
        "or m.startswith('litepolis_client.testing')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
