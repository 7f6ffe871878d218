"""Every command the README and the docs print works when pasted, in a checkout `make run` set up.

Each printed command is matched to how it is proven: `manage.py` commands and benchmarks start
(`--help`, which imports the settings exactly as a real run does) in the project with the `.env`
`make run` writes; make targets exist; the README's API example runs against a live stack in
tests/test_local_run.py; Artillery's in tests/test_artillery.py; docker compose's file is checked
in tests/test_docker_compose.py (no Docker engine here); `aws` commands configure a real AWS
account. A command no rule knows fails the test, so a new one can't be printed unproven.
"""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from config.local_env import local_env_text

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted({ROOT / "README.md", *ROOT.glob("docs/**/*.md"), *ROOT.glob("*/README.md")})
_BLOCK = re.compile(r"```(?:sh|bash|shell|console)\n(.*?)```", re.S)
_COMMAND_START = re.compile(
    r"^(?:[A-Z_]+=\S*\s+)*(?:\.venv/bin/|python|make |npx |docker |curl |aws |KEY=|export |ls )"
)
_ASSIGNMENT = re.compile(r"^[A-Z_]+=")
# How each kind of command is proven, by its first words (after any VAR=value prefixes).
ELSEWHERE = {
    "curl": "tests/test_local_run.py runs the README's API example and reads the stand-in's stats live",
    "npx": "tests/test_artillery.py runs the scenario with Artillery",
    "docker": "tests/test_docker_compose.py checks every service's command, build and files",
    "aws": "configures a real AWS account (docs: Setting up SES); nothing to run here",
    "export": "sets a variable for the commands after it",
    "ls": "tests/test_local_run.py signs up on the demo's form and confirms with the link it prints",
}


def _lines(block: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()  # A trailing comment after two spaces.
        if line and not line.startswith("#"):
            commands.append(line)
    return commands


def printed_commands() -> list[tuple[str, str]]:
    """Return (document, command) for every command in a shell block or an inline code span."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        name = str(doc.relative_to(ROOT))
        for block in _BLOCK.findall(text):
            found += [(name, command) for command in _lines(block)]
        prose = _BLOCK.sub("", text)
        found += [(name, span) for span in re.findall(r"`([^`\n]+)`", prose) if _COMMAND_START.match(span)]
    return sorted(set(found))


def _words(command: str) -> tuple[dict[str, str], list[str]]:
    """Split a command into its leading VAR=value assignments and the rest."""
    words = shlex.split(command.replace("…", "x"))
    env = {}
    while words and _ASSIGNMENT.match(words[0]) and not words[0].startswith("KEY=$("):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, words


@pytest.fixture(scope="module")
def local_env_file(tmp_path_factory) -> Path:
    """The .env `make run` writes on a fresh clone."""
    path = tmp_path_factory.mktemp("checkout") / ".env"
    path.write_text(local_env_text(web_port="8000", ses_port="5005", redis_port="6380"))
    return path


def _run_in_checkout(
    words: list[str], env: dict[str, str], local_env_file: Path
) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    return subprocess.run(
        words,
        cwd=ROOT,
        env={**clean, "DJANGO_ENV_FILE": str(local_env_file), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(("doc", "command"), printed_commands())
def test_a_printed_command_works_as_printed(doc, command, local_env_file):
    if command.startswith("KEY=$("):
        command = command[len("KEY=$(") : command.rindex(")")]
    env, words = _words(command)
    assert words, f"{doc}: {command!r} is only assignments"
    program = words[0]
    assert not re.fullmatch(r"python3?", program), (
        f"{doc}: {command!r} runs whatever `python` is on PATH; print .venv/bin/python, the venv make made"
    )
    if program == "make":
        target = words[1] if len(words) > 1 else ""
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=False)
        assert dry.returncode == 0, f"{doc}: {command!r}: {dry.stderr}"
    elif program == ".venv/bin/python" and words[1:2] == ["manage.py"]:
        started = _run_in_checkout([".venv/bin/python", "manage.py", words[2], "--help"], env, local_env_file)
        assert started.returncode == 0, f"{doc}: {command!r}: {started.stderr[-2000:]}"
    elif program == ".venv/bin/python" and words[1].startswith("benchmarks/"):
        assert (ROOT / words[1]).is_file(), f"{doc}: {command!r}: no such benchmark"
        started = _run_in_checkout([".venv/bin/python", words[1], "--help"], env, local_env_file)
        assert started.returncode == 0, f"{doc}: {command!r}: {started.stderr[-2000:]}"
    elif program == ".venv/bin/python" and words[1:3] == ["-m", "ses_standin"]:
        started = _run_in_checkout([".venv/bin/python", "-m", "ses_standin", "--help"], env, local_env_file)
        assert started.returncode == 0, f"{doc}: {command!r}: {started.stderr[-2000:]}"
    elif program == ".venv/bin/pip":  # An optional install into the venv make made: its pip is there.
        started = _run_in_checkout([".venv/bin/pip", "--version"], env, local_env_file)
        assert started.returncode == 0, f"{doc}: {command!r}: {started.stderr[-2000:]}"
    else:
        assert program in ELSEWHERE, f"{doc}: nothing proves {command!r} works; add a rule or a test"


def test_every_manage_py_command_the_docs_name_exists():
    from django.core.management import get_commands

    named = {
        (str(doc.relative_to(ROOT)), name)
        for doc in DOCS
        for name in re.findall(r"manage\.py (\w+)", doc.read_text())
    }
    unknown = sorted((doc, name) for doc, name in named if name not in get_commands())
    assert unknown == []
