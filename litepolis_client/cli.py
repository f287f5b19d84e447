"""The ``litepolis-client`` command: renew an API key, show its user, check the server.

Usage::

    litepolis-client --host https://litepolis.example.org --key-file ~/.litepolis-key renew
    litepolis-client --host https://litepolis.example.org --key-file ~/.litepolis-key whoami
    litepolis-client --host https://litepolis.example.org health

``python -m litepolis_client`` runs the same command. ``--host`` defaults to
``LITEPOLIS_HOST``, else ``http://localhost``, and ``--key-file`` defaults
to ``LITEPOLIS_API_KEY_FILE``. The API key is the first line of the key
file. When no key file is named, or the named one does not exist or is
empty, the key comes from ``LITEPOLIS_API_KEY``. So the key file wins over
``LITEPOLIS_API_KEY`` here, unlike in ``Configuration()``, because ``renew``
overwrites the key file and must renew the key that the file contains.

``renew`` stores the new key from ``Configuration.on_api_key_renewed``, so
the key is on disk before the renewal call returns. Before it sends
anything, it checks that it can create files next to the key file. See
``KeyFile`` for how the file is replaced.

Exit codes, also listed by ``--help``:

    0  EXIT_OK                   success
    2  EXIT_USAGE                invalid option, no usable API key, or the key
                                 file cannot be written; nothing was sent
    3  EXIT_AUTH_FAILED          the server rejected the API key (HTTP 401 or 403)
    4  EXIT_NETWORK_ERROR        no response: connection refused, timeout, TLS failure
    5  EXIT_RENEWAL_UNKNOWN      renew: the renewal may or may not have happened;
                                 the key file was left untouched
    6  EXIT_UNEXPECTED_RESPONSE  the server responded with another error status
                                 or with a body the client cannot read
    7  EXIT_KEY_NOT_STORED       renew: the key was renewed but could not be
                                 written to the key file; it is printed on stdout
    8  EXIT_UNHEALTHY            health: the server responded, but not with "OK"
  130  EXIT_INTERRUPTED          interrupted with Ctrl-C

Results go to stdout. Each error goes to stderr as one message that names
what failed and the next step, without a traceback. ``--json`` prints one JSON
object on stdout for every outcome except ``--help``, ``--version`` and
the usage errors that argparse reports. Output
shows an API key only as its first 8 characters followed by ``...``. There
are two exceptions: ``renew --show-key`` prints the full new key, and exit
code 7 prints it because it is stored nowhere else. Error messages never
contain a key, not even a masked one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import json
import logging
import math
import os
import shlex
import signal
import sys
import textwrap
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, TextIO

import litepolis_client
from litepolis_client import _redact
from litepolis_client._config import MAX_TIMEOUT_SECONDS, read_key_file
from litepolis_client._keyfile import KeyFile
from litepolis_client.api.api_keys_api import APIKeysApi
from litepolis_client.api.default_api import DefaultApi
from litepolis_client.api.user_api import UserApi
from litepolis_client.api_client import ApiClient
from litepolis_client.configuration import (
    DEFAULT_CONNECT_TIMEOUT_SECONDS,
    DEFAULT_READ_TIMEOUT_SECONDS,
    ENV_API_KEY,
    ENV_API_KEY_FILE,
    ENV_HOST,
    Configuration,
)
from litepolis_client.exceptions import (
    ApiException,
    ApiTypeError,
    ApiValueError,
    ForbiddenException,
    LitePolisError,
    RenewalHookError,
    RenewalOutcomeUnknownError,
    TransportError,
    UnauthorizedException,
)
from litepolis_client.models.user_response_message import UserResponseMessage

__all__ = [
    "EXIT_AUTH_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_KEY_NOT_STORED",
    "EXIT_NETWORK_ERROR",
    "EXIT_OK",
    "EXIT_RENEWAL_UNKNOWN",
    "EXIT_UNEXPECTED_RESPONSE",
    "EXIT_UNHEALTHY",
    "EXIT_USAGE",
    "KeyFile",
    "build_parser",
    "main",
    "mask_key",
]

PROG = "litepolis-client"

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_AUTH_FAILED = 3
EXIT_NETWORK_ERROR = 4
EXIT_RENEWAL_UNKNOWN = 5
EXIT_UNEXPECTED_RESPONSE = 6
EXIT_KEY_NOT_STORED = 7
EXIT_UNHEALTHY = 8
# 128 + SIGINT, the status that shells report for a process ended by Ctrl-C.
EXIT_INTERRUPTED = 130

# (code, constant name, meaning), for --help.
EXIT_CODE_MEANINGS = (
    (EXIT_OK, "EXIT_OK", "success"),
    (
        EXIT_USAGE,
        "EXIT_USAGE",
        "invalid option, no usable API key, or the key file cannot be written; nothing was sent",
    ),
    (EXIT_AUTH_FAILED, "EXIT_AUTH_FAILED", "the server rejected the API key (HTTP 401 or 403)"),
    (EXIT_NETWORK_ERROR, "EXIT_NETWORK_ERROR", "no response: connection refused, timeout, TLS failure"),
    (
        EXIT_RENEWAL_UNKNOWN,
        "EXIT_RENEWAL_UNKNOWN",
        "renew: the renewal may or may not have happened; the key file was left untouched",
    ),
    (
        EXIT_UNEXPECTED_RESPONSE,
        "EXIT_UNEXPECTED_RESPONSE",
        "the server responded with another error status or with a body the client cannot read",
    ),
    (
        EXIT_KEY_NOT_STORED,
        "EXIT_KEY_NOT_STORED",
        "renew: the key was renewed but could not be written to the key file; it is printed on stdout",
    ),
    (EXIT_UNHEALTHY, "EXIT_UNHEALTHY", 'health: the server responded, but not with "OK"'),
    (EXIT_INTERRUPTED, "EXIT_INTERRUPTED", "interrupted with Ctrl-C"),
)

API_KEY_SCHEME = "APIKeyHeader"
HEALTHY_DETAIL = "OK"
VISIBLE_KEY_CHARS = 8
# A key file contains one key of a few dozen bytes; reading stops here.

# Lines of the --help epilog are wrapped at this width, as argparse wraps the rest.
_HELP_WIDTH = 79

logger = logging.getLogger(__name__)


class CommandError(Exception):
    """A failure that the command reports as one message and an exit code, without a traceback.

    ``error`` is a short machine-readable name for ``--json``, and ``fields``
    are extra members of that JSON object.
    """

    def __init__(self, exit_code: int, error: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.error = error
        self.message = message
        self.fields = fields


def mask_key(key: str) -> str:
    """Return the first 8 characters of a key and ``...``, or only ``...`` for a key too short to hide the rest."""
    if len(key) < 2 * VISIBLE_KEY_CHARS:
        return "..."
    return key[:VISIBLE_KEY_CHARS] + "..."


# Output.


class Output:
    """Writes results to stdout and messages to stderr, as text or as one JSON object.

    Every message passes through ``scrub``, which removes the keys that the
    command has seen and anything shaped like a UUID. Result fields are
    written as given, because some of them carry a key on purpose.
    """

    def __init__(self, *, as_json: bool, stdout: TextIO, stderr: TextIO) -> None:
        self.as_json = as_json
        self.stdout = stdout
        self.stderr = stderr
        self._secrets: Set[str] = set()

    def add_secret(self, key: str) -> None:
        self._secrets.add(key)

    def scrub(self, text: str) -> str:
        return _redact.scrub(text, self._secrets)

    def result(self, command: str, fields: Dict[str, Any], lines: Sequence[str]) -> None:
        """Write the result of a command that succeeded."""
        if self.as_json:
            self._write_json({"ok": True, "command": command, **fields})
            return

        for line in lines:
            print(line, file=self.stdout)

    def failure(self, command: str, error: CommandError) -> None:
        """Write the message of `error` to stderr and, with ``--json``, its object to stdout."""
        message = self.scrub(error.message)
        print(f"{PROG}: error: {message}", file=self.stderr)

        if self.as_json:
            document = {
                "ok": False,
                "command": command,
                "exit_code": error.exit_code,
                "error": error.error,
                "message": message,
                **error.fields,
            }
            self._write_json(document)
            return

        # Without --json, only a key that is stored nowhere else reaches stdout.
        api_key = error.fields.get("api_key")
        if api_key is None:
            return
        try:
            if self.stdout is None:
                raise OSError(errno.EBADF, "stdout is closed")
            print(api_key, file=self.stdout, flush=True)
        except OSError as exc:
            # stderr is the last place left; a key printed there beats a lost one.
            print(
                f"{PROG}: error: stdout is not writable ({exc.strerror}), so the new key follows here:",
                file=self.stderr,
            )
            print(api_key, file=self.stderr)

    def note(self, message: str) -> None:
        """Write a remark about a command that succeeded to stderr."""
        print(f"{PROG}: note: {self.scrub(message)}", file=self.stderr)

    def _write_json(self, document: Dict[str, Any]) -> None:
        text = json.dumps(document, sort_keys=True)
        try:
            if self.stdout is None:
                raise OSError(errno.EBADF, "stdout is closed")
            print(text, file=self.stdout, flush=True)
        except OSError as exc:
            # The object may carry the only copy of a renewed key.
            print(f"{PROG}: error: stdout is not writable ({exc.strerror}); the result follows:", file=self.stderr)
            print(text, file=self.stderr)


# The key file.


@dataclasses.dataclass(frozen=True)
class ApiKeySource:
    """An API key and where it came from, as a phrase for messages."""

    key: str
    origin: str


def key_file_path(args: argparse.Namespace) -> Optional[str]:
    """Return the key file named by ``--key-file`` or ``LITEPOLIS_API_KEY_FILE``, or None."""
    path = args.key_file or os.environ.get(ENV_API_KEY_FILE)
    if not path:
        return None
    return os.path.expanduser(path)


def load_api_key(path: Optional[str]) -> ApiKeySource:
    """Return the key from the key file, else from ``LITEPOLIS_API_KEY``; raise CommandError without one."""
    if path is not None:
        key = _read_key_file(path)
        if key is not None:
            return ApiKeySource(key, f"the key file {path}")

    environment_key = os.environ.get(ENV_API_KEY, "").strip()
    if environment_key:
        return ApiKeySource(environment_key, ENV_API_KEY)

    if path is not None:
        raise CommandError(
            EXIT_USAGE,
            "no_api_key",
            f"the key file {path} does not exist or is empty: write the current API key "
            f"to its first line, or set {ENV_API_KEY}",
        )
    raise CommandError(
        EXIT_USAGE,
        "no_api_key",
        f"no API key: pass --key-file PATH, or set {ENV_API_KEY_FILE} or {ENV_API_KEY}",
    )


def _read_key_file(path: str) -> Optional[str]:
    """Return the first line of the key file, or None when it does not exist or is empty.

    Messages never quote the content, because it is a key.
    """
    try:
        return read_key_file(path, missing_ok=True)
    except ApiValueError as exc:
        raise CommandError(EXIT_USAGE, "key_file_unreadable", str(exc)) from None


# Talking to the server.


def build_configuration(
    args: argparse.Namespace,
    api_key: Optional[str],
    on_api_key_renewed: Optional[Callable[[str], None]] = None,
) -> Configuration:
    """Return a configuration from the options; raise CommandError for a host that is not an http(s) URL."""
    # An explicit empty dict, so that Configuration does not read the key
    # environment variables on its own.
    keys = {API_KEY_SCHEME: api_key} if api_key is not None else {}
    configuration = Configuration(host=args.host, api_key=keys, on_api_key_renewed=on_api_key_renewed)
    if args.timeout is not None:
        configuration.timeout = args.timeout

    if not configuration.host.startswith(("http://", "https://")):
        raise CommandError(
            EXIT_USAGE,
            "invalid_host",
            f"invalid host {_redact.display_url(configuration.host)!r} (from --host or {ENV_HOST}): "
            "use an http:// or https:// URL such as https://litepolis.example.org",
        )
    return configuration


def describe(exc: BaseException) -> str:
    """Return the message of a client exception without the operation id that starts it."""
    text = str(exc)
    operation_id = getattr(exc, "operation_id", None)
    if operation_id and text.startswith(f"{operation_id}: "):
        return text[len(operation_id) + 2 :]
    return text


def translate_error(exc: LitePolisError, host: str, key_origin: Optional[str]) -> CommandError:
    """Return the CommandError for a failed call: exit code, name and a message with the next step."""
    # 401 for an unknown, revoked or renewed key; 403 when none was sent.
    if isinstance(exc, (UnauthorizedException, ForbiddenException)):
        if key_origin is None:
            message = f"{host} rejected the request (HTTP {exc.status} {exc.reason})."
            return CommandError(EXIT_AUTH_FAILED, "auth_failed", message)
        return CommandError(
            EXIT_AUTH_FAILED,
            "auth_failed",
            f"{host} rejected the API key from {key_origin} (HTTP {exc.status} {exc.reason}). "
            "A renewed or revoked key no longer works: put a current key there and try again.",
        )

    if isinstance(exc, TransportError):
        return CommandError(
            EXIT_NETWORK_ERROR,
            "network_error",
            f"no response from {host}: {describe(exc)}. Check --host, the network and, "
            "for https://, the server certificate; then try again.",
        )

    # Checked before anything was sent, for example a key with a line break.
    if isinstance(exc, (ApiValueError, ApiTypeError)):
        return CommandError(EXIT_USAGE, "invalid_input", f"{describe(exc)}. Nothing was sent.")

    if isinstance(exc, ApiException):
        return CommandError(
            EXIT_UNEXPECTED_RESPONSE,
            "unexpected_response",
            f"{host} responded with HTTP {exc.status}: {describe(exc)}. Check that --host names a "
            "LitePolis v1 server, and try again later if it is a server error.",
        )

    return CommandError(
        EXIT_UNEXPECTED_RESPONSE,
        "unexpected_response",
        f"{host} sent a response that the client cannot read: {describe(exc)}. "
        "Check that --host names a LitePolis v1 server.",
    )


# Commands.


def run_health(args: argparse.Namespace, output: Output) -> None:
    """Call ``GET /api/v1/public/``; succeed when its detail is ``OK``."""
    configuration = build_configuration(args, api_key=None)
    host = configuration.host
    try:
        with ApiClient(configuration) as client:
            response = DefaultApi(client).get_testroute_api_v1_public_get()
    except LitePolisError as exc:
        raise translate_error(exc, host, key_origin=None) from exc

    detail = response.get("detail") if isinstance(response, dict) else None
    if not isinstance(detail, str):
        raise CommandError(
            EXIT_UNEXPECTED_RESPONSE,
            "unexpected_response",
            f"{host} responded to GET /api/v1/public/ without a detail string. "
            "Check that --host names a LitePolis v1 server.",
        )
    if detail != HEALTHY_DETAIL:
        raise CommandError(
            EXIT_UNHEALTHY,
            "unhealthy",
            f"{host} is up but reports {detail!r} instead of {HEALTHY_DETAIL!r}; "
            "check the server's database connection.",
            host=host,
            detail=detail,
        )

    output.result("health", {"host": host, "detail": detail}, [detail])


def run_whoami(args: argparse.Namespace, output: Output) -> None:
    """Call ``GET /api/v1/secure/`` and show the id, email and role of the key's user."""
    source = load_api_key(key_file_path(args))
    output.add_secret(source.key)
    configuration = build_configuration(args, source.key)
    host = configuration.host
    try:
        with ApiClient(configuration) as client:
            response = UserApi(client).get_testroute_api_v1_secure_get()
    except LitePolisError as exc:
        raise translate_error(exc, host, source.origin) from exc

    user = response.detail
    if not isinstance(user, UserResponseMessage):
        raise CommandError(
            EXIT_UNEXPECTED_RESPONSE,
            "unexpected_response",
            f"{host} responded to GET /api/v1/secure/ without a user. Check that --host names a LitePolis v1 server.",
        )

    fields = {"host": host, "user": {"id": user.id, "email": user.email, "role": user.role}}
    lines = [f"id:    {user.id}", f"email: {user.email}", f"role:  {user.role}"]
    output.result("whoami", fields, lines)


def run_renew(args: argparse.Namespace, output: Output) -> None:
    """Renew the API key and replace the key file with the new key before the call returns."""
    path = key_file_path(args)
    if path is None:
        raise CommandError(
            EXIT_USAGE,
            "no_key_file",
            f"renew needs a key file to store the new key in: pass --key-file PATH or set {ENV_API_KEY_FILE}",
        )

    source = load_api_key(path)
    output.add_secret(source.key)
    key_file = KeyFile(path)
    _check_key_file_writable(key_file, path)

    received: List[str] = []

    def store_new_key(new_key: str) -> None:
        output.add_secret(new_key)
        received.append(new_key)
        key_file.replace(new_key)

    configuration = build_configuration(args, source.key, on_api_key_renewed=store_new_key)
    host = configuration.host
    try:
        with ApiClient(configuration) as client:
            response = APIKeysApi(client).update_usertoken_api_v1_secure_users_renew_put()
    except RenewalHookError as exc:
        written = key_file.replaced_with == exc.new_key
        raise _key_not_stored_error(path, exc.new_key, exc.__cause__, written, output.as_json) from exc
    except RenewalOutcomeUnknownError as exc:
        raise _renewal_unknown_error(host, path, exc) from exc
    except LitePolisError as exc:
        error = translate_error(exc, host, source.origin)
        error.message += f" The key file {path} was left untouched."
        raise error from exc
    except KeyboardInterrupt:
        if received and key_file.replaced_with != received[-1]:
            # The renewal happened and the key was not on disk yet: print it.
            raise _key_not_stored_error(path, received[-1], None, False, output.as_json) from None
        raise _renewal_interrupted_error(host, path, key_file) from None

    new_key = response.detail
    # The client raises RenewalOutcomeUnknownError unless detail is a usable key.
    assert isinstance(new_key, str)
    if key_file.replaced_with != new_key:
        # Defensive: the client calls the hook for every renewal that returns.
        raise _key_not_stored_error(path, new_key, None, False, output.as_json)

    shown_key = new_key if args.show_key else mask_key(new_key)
    fields = {"host": host, "key_file": path, "api_key": shown_key, "api_key_masked": not args.show_key}
    output.result("renew", fields, [f"API key renewed; the new key {shown_key} is in {path}"])

    # A child process cannot change its parent shell's environment, so print a note.
    if os.environ.get(ENV_API_KEY, "").strip() == source.key:
        output.note(
            f"{ENV_API_KEY} still contains the old key, which no longer works: unset it or update it from {path}."
        )


def _check_key_file_writable(key_file: KeyFile, path: str) -> None:
    """Raise CommandError when the key file cannot be replaced, before the old key is revoked."""
    try:
        key_file.check_writable()
    except OSError as exc:
        raise CommandError(
            EXIT_USAGE,
            "key_file_not_writable",
            f"cannot write the key file {path}: {exc.strerror}. Nothing was sent and the key "
            f"was not renewed: make {key_file.directory} writable and try again.",
        ) from None


def _key_not_stored_error(
    path: str, new_key: str, cause: Optional[BaseException], written: bool, as_json: bool
) -> CommandError:
    """Return the error for a renewed key that is not safely on disk; it carries the key for stdout."""
    if isinstance(cause, OSError) and cause.strerror:
        reason = cause.strerror
    else:
        reason = str(cause) if cause is not None else "the key file was not written (interrupted)"

    if written:
        # Only syncing the directory failed, so a crash may still bring back the old file.
        failure = (
            f"the API key was renewed and the new key was written to {path}, but the directory "
            f"could not be synced to disk: {reason}. After a crash the file may hold the old key, "
            "which no longer works."
        )
    else:
        failure = (
            f"the API key was renewed, but the new key could not be written to {path}: {reason}. "
            f"The old key in {path} no longer works."
        )
    where = "in the api_key field of the JSON object on stdout" if as_json else "printed on stdout"
    return CommandError(
        EXIT_KEY_NOT_STORED,
        "key_not_stored",
        f"{failure} The new key is {where}: save it now, then fix the problem and write it to the key file.",
        api_key=new_key,
        api_key_masked=False,
    )


def _renewal_unknown_error(host: str, path: str, exc: RenewalOutcomeUnknownError) -> CommandError:
    cause = describe(exc.__cause__) if exc.__cause__ is not None else "no valid response"
    return CommandError(
        EXIT_RENEWAL_UNKNOWN,
        "renewal_outcome_unknown",
        f"the renewal outcome is unknown: the request may have reached {host}, but no valid "
        f"response came back ({cause}). The key file {path} was left untouched. "
        f"{_recovery_steps(host, path)}",
    )


def _renewal_interrupted_error(host: str, path: str, key_file: KeyFile) -> CommandError:
    if key_file.replaced_with is not None:
        return CommandError(
            EXIT_INTERRUPTED,
            "interrupted",
            f"interrupted after the API key was renewed and the new key was written to {path}.",
        )
    return CommandError(
        EXIT_INTERRUPTED,
        "interrupted",
        f"interrupted: the renewal outcome is unknown, and the key file {path} still contains the old key. "
        f"{_recovery_steps(host, path)}",
    )


def _recovery_steps(host: str, path: str) -> str:
    whoami = shlex.join([PROG, "--host", host, "--key-file", path, "whoami"])
    return (
        f"Run `{whoami}`. If it succeeds, the old key still works and renew can be run again. "
        f"If it fails with exit code {EXIT_AUTH_FAILED}, the server renewed the key and the new "
        "one was lost: get a new key by logging in again (POST /api/v1/secure/users/auth, "
        f"through a GUI-role client such as the web front end) and write it to {path}."
    )


COMMANDS: Dict[str, Callable[[argparse.Namespace, Output], None]] = {
    "health": run_health,
    "renew": run_renew,
    "whoami": run_whoami,
}


# The parser.


def _seconds(text: str) -> float:
    """Parse ``--timeout``: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds: {text!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds above 0 and at most {MAX_TIMEOUT_SECONDS:.0f}, got {text!r}"
        )
    return value


def _http_url(text: str) -> str:
    """Parse ``--host``: an http:// or https:// URL."""
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL, got {_redact.display_url(text)!r}")
    return text


def _add_common_options(parser: argparse.ArgumentParser, *, with_defaults: bool) -> None:
    """Add the options that are valid both before and after the command name.

    The copies after the command default to SUPPRESS, because argparse
    would otherwise overwrite a value given before the command with the
    default of the copy.
    """

    def default(value: Any) -> Any:
        return value if with_defaults else argparse.SUPPRESS

    parser.add_argument(
        "--host",
        type=_http_url,
        default=default(None),
        metavar="URL",
        help=f"base URL of the LitePolis server (default: ${ENV_HOST}, else {Configuration.DEFAULT_HOST})",
    )
    parser.add_argument(
        "--key-file",
        default=default(None),
        metavar="PATH",
        help=f"file whose first line is the API key (default: ${ENV_API_KEY_FILE}); "
        f"without one, the key comes from ${ENV_API_KEY}",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=default(None),
        metavar="SECONDS",
        help="seconds to wait for a connection, and again for the whole response "
        f"(default: {DEFAULT_CONNECT_TIMEOUT_SECONDS:g} to connect, {DEFAULT_READ_TIMEOUT_SECONDS:g} for the response)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        default=default(False),
        help="print one JSON object on stdout, for scripts",
    )


def _exit_code_table() -> str:
    """Return the exit codes as an indented table for the --help epilog."""
    width = max(len(name) for _, name, _ in EXIT_CODE_MEANINGS)
    indent = " " * (2 + 3 + 2 + width + 2)
    rows = []
    for code, name, meaning in EXIT_CODE_MEANINGS:
        lines = textwrap.wrap(meaning, width=_HELP_WIDTH - len(indent))
        rows.append(f"  {code:>3}  {name:<{width}}  " + f"\n{indent}".join(lines))
    return f"exit codes (constants of {__name__}):\n" + "\n".join(rows)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``litepolis-client``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Renew a LitePolis API key, show the user it belongs to, or check the server.",
        epilog=_exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {litepolis_client.__version__}")
    _add_common_options(parser, with_defaults=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    renew = commands.add_parser(
        "renew",
        help="renew the API key and write the new one to the key file",
        description=textwrap.fill(
            "Renew the API key in the key file and replace the file with the new key, "
            "before the renewal call returns. The old key stops working. Output shows "
            "the new key masked unless --show-key is given.",
            width=_HELP_WIDTH,
        ),
        epilog=_exit_code_table(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common_options(renew, with_defaults=False)
    renew.add_argument(
        "--show-key", action="store_true", help="print the full new key instead of its first 8 characters"
    )

    whoami = commands.add_parser(
        "whoami",
        help="show the id, email and role of the API key's user",
        description="Show the id, email and role of the user that the API key belongs to (GET /api/v1/secure/).",
    )
    _add_common_options(whoami, with_defaults=False)

    health = commands.add_parser(
        "health",
        help="check that the server and its database are up (no key needed)",
        description=f"Call GET /api/v1/public/ and exit with 0 when the server reports OK, else {EXIT_UNHEALTHY}.",
    )
    _add_common_options(health, with_defaults=False)
    return parser


@contextlib.contextmanager
def _library_warnings_shown(stream: TextIO) -> Iterator[None]:
    """Show the client's warnings on `stream` while the command runs, such as a key sent over plain http://.

    The client's log records carry no key. The handler is removed again, so
    that calling ``main`` twice in one process does not print each warning
    twice.
    """
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter(f"{PROG}: warning: %(message)s"))
    package_logger = logging.getLogger("litepolis_client")
    package_logger.addHandler(handler)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run ``litepolis-client`` with `argv` (default ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        # --help, --version and usage errors; returned, so that main() never exits the process.
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE

    output = Output(as_json=args.json, stdout=sys.stdout, stderr=sys.stderr)
    with _library_warnings_shown(sys.stderr), _termination_interrupts():
        return _run(args, output)


def _interrupt(signal_number: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _termination_interrupts() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so that they end the command as Ctrl-C does.

    That way a renewed key is printed rather than lost when `timeout` or a
    closing terminal stops the command.
    """
    names = ("SIGTERM", "SIGHUP")
    previous = {}
    try:
        for name in names:
            number = getattr(signal, name, None)
            if number is not None:
                previous[number] = signal.signal(number, _interrupt)
    except ValueError:
        # signal.signal works only in the main thread; elsewhere nothing changes.
        pass
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _run(args: argparse.Namespace, output: Output) -> int:
    command = COMMANDS[args.command]
    try:
        command(args, output)
    except CommandError as error:
        output.failure(args.command, error)
        return error.exit_code
    except KeyboardInterrupt:
        output.failure(args.command, CommandError(EXIT_INTERRUPTED, "interrupted", "interrupted"))
        return EXIT_INTERRUPTED
    return EXIT_OK

