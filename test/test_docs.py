"""Run every code block of README.md and the hand-written docs pages against the stand-in server.

Every block runs, except the install, suite and regeneration commands in LONG_COMMANDS.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import os
import re
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest

import litepolis_client
from litepolis_client.testing import StandInServer

REPO = Path(__file__).resolve().parent.parent

# The pages written by hand. The generated pages (docs/README.md, docs/*Api.md
# and the model pages) contain snippets with free variables and are not run.
DOC_FILES = ("README.md", "docs/testing.md", "docs/benchmarks.md")

# Pages under docs/ that are neither generated nor listed in DOC_FILES.
UNCHECKED_PAGES = {
    "docs/benchmarks-results.md": "written by test/benchmarks/run.py, and it contains tables but no code",
}

# The README's examples talk to this host and read this key file. Both are
# replaced before anything runs, so neither is ever used.
PLACEHOLDER_HOST = "https://litepolis.example.org"
PLACEHOLDER_KEY_FILE = "~/.litepolis-key"
CLI_NAME = "litepolis-client"

# sh blocks that are too slow to run here, or would run this module again.
# Keyed by the exact command, so a new or changed sh block fails
# test_sh_block until someone adds it here or makes it runnable.
LONG_COMMANDS = {
    ".venv/bin/python -m litepolis_client.testing --key-file ./litepolis-key": (
        "serves until interrupted; test_standin_main runs it and drives the CLI against it"
    ),
    (
        "python3 -m venv .venv && .venv/bin/pip install '.[testing]' && "
        ".venv/bin/python -m litepolis_client.testing.demo"
    ): (
        "creates a venv and installs from a package index, while test_sample_output runs the demo itself"
    ),
    "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/python -m pytest": (
        "runs the whole suite including this module, and .ci/run runs it in CI"
    ),
    ".venv/bin/pip install -e '.[regen]' && .venv/bin/python .ci/generate": (
        "downloads OpenAPI Generator with a JDK (about 65 MB) and rewrites generated files"
    ),
    "pip install '.[testing]'": "installs from a package index",
    "python3 -m venv .venv && .venv/bin/pip install -e '.[bench]' && .venv/bin/python test/benchmarks/run.py": (
        "installs the benchmark peers and runs for more than a minute"
    ),
}

SUBPROCESS_TIMEOUT_SECONDS = 120.0

FENCE_OPENING = re.compile(r"^ {0,3}(`{3,})[ \t]*([^`\s]*)[^`]*$")
URL = re.compile(r"https?://[^\s\"'`<>)\]]+")
# The parts of the demo's output that change from run to run.
VARIABLE_OUTPUT = re.compile(r"(127\.0\.0\.1:\d+|[0-9a-f]{8}\.\.\.)")


@dataclasses.dataclass(frozen=True)
class Block:
    """A fenced code block: the page, the line of its opening fence, its language and its text."""

    page: str
    line: int
    language: str
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


def parse_blocks(page: str) -> List[Block]:
    """Return the fenced code blocks of a Markdown page in order; raise ValueError for an unclosed fence."""
    blocks = []
    opening: Optional[re.Match[str]] = None
    opening_line = 0
    body: List[str] = []

    for number, line in enumerate((REPO / page).read_text(encoding="utf-8").splitlines(), start=1):
        if opening is None:
            opening = FENCE_OPENING.match(line)
            if opening is not None:
                opening_line, body = number, []
            continue

        # A closing fence has at least as many backticks as the opening one and no info string.
        stripped = line.strip()
        if stripped.startswith(opening.group(1)) and not stripped.strip("`"):
            blocks.append(Block(page, opening_line, opening.group(2), "\n".join(body) + "\n"))
            opening = None
        else:
            body.append(line)

    if opening is not None:
        raise ValueError(f"{page}:{opening_line}: unclosed code fence, add a closing ``` line")
    return blocks


def count_tests(block: Block) -> int:
    """Return the number of top-level test functions in a Python block, 0 for a script."""
    tree = ast.parse(block.text)
    return sum(
        1
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test")
    )


def is_cli_example(block: Block) -> bool:
    lines = block.text.strip().splitlines()
    return all(line.startswith(CLI_NAME + " ") for line in lines)


ALL_BLOCKS = [block for page in DOC_FILES for block in parse_blocks(page)]
PYTHON_SCRIPTS = [b for b in ALL_BLOCKS if b.language == "python" and not count_tests(b)]
PYTEST_MODULES = [b for b in ALL_BLOCKS if b.language == "python" and count_tests(b)]
SH_BLOCKS = [b for b in ALL_BLOCKS if b.language == "sh"]
CLI_EXAMPLES = [b for b in SH_BLOCKS if is_cli_example(b)]
SKIPPED = [b for b in SH_BLOCKS if b.text.strip() in LONG_COMMANDS]


# A sample output sits within this many lines after its command's block.
MAX_SAMPLE_GAP_LINES = 5


def follows_sh_block(block: Block) -> bool:
    """Tell whether `block` comes right after a shell command's block on its page."""
    earlier = [b for b in ALL_BLOCKS if b.page == block.page and b.line < block.line]
    if not earlier or earlier[-1].language != "sh":
        return False
    command = earlier[-1]
    closing_fence = command.line + len(command.text.splitlines()) + 1
    return block.line - closing_fence <= MAX_SAMPLE_GAP_LINES


# A text block right after a shell command is that command's sample output;
# any other text block is a diagram, such as the exception tree.
SAMPLE_OUTPUTS = [b for b in ALL_BLOCKS if b.language == "text" and follows_sh_block(b)]
DIAGRAMS = [b for b in ALL_BLOCKS if b.language == "text" and not follows_sh_block(b)]


def ids(blocks: List[Block]) -> List[str]:
    return [block.id for block in blocks]


def localize(text: str, server_url: str) -> str:
    return text.replace(PLACEHOLDER_HOST, server_url)


def foreign_urls(text: str, server_url: str) -> List[str]:
    """Return the URLs in `text` that do not point at the stand-in."""
    return [url for url in URL.findall(text) if not url.startswith(server_url)]


def child_environment(home: Path) -> Dict[str, str]:
    """Return the environment for a subprocess: no LitePolis settings, no outer pytest options, HOME in a temp dir."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LITEPOLIS_") and name != "PYTEST_ADDOPTS"
    }
    environment["HOME"] = str(home)
    return environment


def run(argv: List[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=child_environment(cwd),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
    )


def cli_command() -> List[str]:
    """Return the command that runs litepolis-client from this environment.

    The console script is looked up next to the interpreter, not on PATH,
    so that a copy installed elsewhere is never run.
    """
    script = Path(sys.executable).with_name(CLI_NAME)
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "litepolis_client"]


@pytest.fixture(scope="module")
def server() -> Iterator[StandInServer]:
    """A stand-in shared by the tests of this module, each of which seeds its own user."""
    with StandInServer() as shared:
        yield shared


@pytest.fixture
def user(server: StandInServer):
    return server.add_user(f"ada-{uuid.uuid4().hex}@example.org", role="user")


@pytest.mark.parametrize("block", PYTHON_SCRIPTS, ids=ids(PYTHON_SCRIPTS))
def test_python_example(block: Block, server: StandInServer, user) -> None:
    source = localize(block.text, server.url)
    assert foreign_urls(source, server.url) == []

    # Leading newlines make tracebacks point at the line of the Markdown page.
    code = compile("\n" * block.line + source, str(REPO / block.page), "exec")
    namespace = {"__name__": "__doc_example__", "current_key": user.key}
    exec(code, namespace)

    if "new_key" in namespace:
        # The README's renewal example: the new key works and the old one was revoked.
        assert server.is_live(namespace["new_key"])
        assert not server.is_live(user.key)


@pytest.mark.parametrize("block", PYTEST_MODULES, ids=ids(PYTEST_MODULES))
def test_pytest_module(block: Block, tmp_path: Path) -> None:
    # These modules start their own servers, so they must contain no URL at all.
    assert URL.findall(block.text) == []

    module = tmp_path / f"test_{Path(block.page).stem}_{block.line}.py"
    module.write_text("\n" * block.line + block.text, encoding="utf-8")
    result = run(
        [
            sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
            f"--basetemp={tmp_path / 'basetemp'}", str(module),
        ],
        cwd=tmp_path,
    )
    report = result.stdout + result.stderr

    assert result.returncode == 0, report
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed is not None, report
    assert int(passed.group(1)) == count_tests(block), report


@pytest.mark.parametrize("block", SH_BLOCKS, ids=ids(SH_BLOCKS))
def test_sh_block(block: Block, server: StandInServer, user, tmp_path: Path) -> None:
    command = block.text.strip()
    if command in LONG_COMMANDS:
        pytest.skip(LONG_COMMANDS[command])
    assert is_cli_example(block), (
        f"{block.id}: add this command to LONG_COMMANDS with a reason, or make it runnable here"
    )

    key_file = tmp_path / "litepolis-key"
    key_file.write_text(user.key + "\n", encoding="utf-8")
    key_file.chmod(0o600)

    for offset, line in enumerate(command.splitlines(), start=1):
        words = shlex.split(line)
        replacements = {PLACEHOLDER_HOST: server.url, PLACEHOLDER_KEY_FILE: str(key_file)}
        arguments = [replacements.get(word, word) for word in words[1:]]
        assert foreign_urls(" ".join(arguments), server.url) == [], line
        assert PLACEHOLDER_KEY_FILE not in arguments, line

        key_before = key_file.read_text(encoding="utf-8").strip()
        result = run(cli_command() + arguments, cwd=tmp_path)
        where = f"{block.page}:{block.line + offset}: {line}\n{result.stdout}{result.stderr}"
        assert result.returncode == 0, where

        if "renew" in arguments:
            key_after = key_file.read_text(encoding="utf-8").strip()
            assert key_after != key_before, where
            assert server.is_live(key_after), where
            assert not server.is_live(key_before), where
        if "whoami" in arguments:
            assert user.email in result.stdout, where


def sample_pattern(sample: str) -> str:
    """Return a regex for a line of sample output, with the port and masked keys as wildcards."""
    pattern = []
    for index, piece in enumerate(VARIABLE_OUTPUT.split(sample)):
        # re.split with a group returns literal text at even and matches at odd indices.
        if index % 2 == 0:
            pattern.append(re.escape(piece))
        elif piece.startswith("127.0.0.1:"):
            pattern.append(r"127\.0\.0\.1:\d+")
        else:
            pattern.append(r"[0-9a-f]{8}\.\.\.")
    return "".join(pattern)


@pytest.mark.parametrize("block", SAMPLE_OUTPUTS, ids=ids(SAMPLE_OUTPUTS))
def test_sample_output(block: Block, tmp_path: Path) -> None:
    # The sample shows the output of the command in the sh block before it.
    commands = [b for b in SH_BLOCKS if b.page == block.page and b.line < block.line]
    assert commands, f"{block.id}: no sh block before the sample output"
    module = re.search(r"python -m ([\w.]+)$", commands[-1].text.strip())
    assert module is not None, f"{commands[-1].id} does not end with `python -m MODULE`"

    result = run([sys.executable, "-m", module.group(1)], cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr

    expected = block.text.splitlines()
    actual = result.stdout.splitlines()
    assert len(actual) == len(expected), result.stdout
    for number, (sample, line) in enumerate(zip(expected, actual, strict=True), start=block.line + 1):
        assert re.fullmatch(sample_pattern(sample), line), f"{block.page}:{number}: {sample!r} != {line!r}"


def test_long_commands_table() -> None:
    not_runnable = {block.text.strip() for block in SH_BLOCKS if not is_cli_example(block)}
    assert set(LONG_COMMANDS) == not_runnable


@pytest.mark.parametrize("block", DIAGRAMS, ids=ids(DIAGRAMS))
def test_diagram_names_exist(block: Block) -> None:
    names = set(re.findall(r"\b[A-Z][A-Za-z]+(?:Error|Exception)\b", block.text))

    assert names, f"{block.id}: a diagram without exception names is not checked by anything"
    assert sorted(name for name in names if not hasattr(litepolis_client, name)) == []


@pytest.mark.parametrize("page", DOC_FILES)
def test_every_block_covered(page: str) -> None:
    # Fences counted without the parser: every opening and closing line.
    lines = (REPO / page).read_text(encoding="utf-8").splitlines()
    fence_lines = [line for line in lines if line.lstrip().startswith("```")]
    collected = [block.id for block in ALL_BLOCKS if block.page == page]
    executed = [
        block.id
        for block in PYTHON_SCRIPTS + PYTEST_MODULES + CLI_EXAMPLES + SAMPLE_OUTPUTS + DIAGRAMS
        if block.page == page
    ]
    skipped = [block.id for block in SKIPPED if block.page == page]

    assert len(collected) * 2 == len(fence_lines)
    assert sorted(executed + skipped) == sorted(collected)


def test_hand_written_pages_listed() -> None:
    generated = set((REPO / ".openapi-generator" / "FILES").read_text(encoding="utf-8").split())
    pages = {f"docs/{path.name}" for path in (REPO / "docs").glob("*.md")}
    assert pages - generated - set(UNCHECKED_PAGES) == set(DOC_FILES) - {"README.md"}


def test_every_setting_documented() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configure it", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(\w+)`", section))
    settings = set(inspect.signature(litepolis_client.Configuration.__init__).parameters) - {"self"}

    assert sorted(settings - documented) == []
