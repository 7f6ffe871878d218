"""docker-compose.yml and the Dockerfile only start what the repository actually ships."""

import importlib
import json
import re
import shlex
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from celery.bin.celery import celery as celery_cli
from django.core.management import get_commands, load_command_class
from django.core.management.base import CommandError
from gunicorn.config import Config as GunicornConfig

REPO_ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
REQUIREMENTS_FILE = REPO_ROOT / "requirements.txt"

EXPECTED_SERVICES = {"postgres", "redis", "ses", "web", "worker", "beat", "migrate", "ses-init"}
WEB_PORT = 8000


def compose_load() -> dict:
    """Return the parsed compose file."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def services() -> dict:
    """Return the compose services by name."""
    return compose_load().get("services") or {}


def built_services() -> dict:
    """Return the services whose image is built from the repository."""
    return {name: service for name, service in services().items() if "build" in service}


def build_paths(build) -> tuple[Path, Path]:
    """Return the context directory and Dockerfile of a service's `build` entry."""
    if isinstance(build, str):
        build = {"context": build}
    context = COMPOSE_FILE.parent / build.get("context", ".")
    return context, context / build.get("dockerfile", "Dockerfile")


def argv_split(command) -> list[str]:
    """Return a command given as a string or a list as an argument list."""
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def dockerfile_cmd(dockerfile: Path) -> list[str]:
    """Return the argument list of a Dockerfile's last CMD instruction."""
    # Backslash continuations make one instruction of several lines.
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    cmds = re.findall(r"^\s*CMD\s+(.+?)\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    assert cmds, f"{dockerfile.name} has no CMD"
    cmd = cmds[-1]
    return json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)


def pinned_requirements() -> dict[str, str]:
    """Return requirements.txt as normalised package name -> version specifier."""
    pins = {}
    for line in REQUIREMENTS_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)", line)
        pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[3]
    return pins


def option_value(argv: list[str], *names: str) -> str | None:
    """Return the value of the first of `names` given as `--opt value` or `--opt=value`."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def requirement_check(package: str) -> None:
    """Fail unless `package` is pinned with == in requirements.txt, the only file the image installs."""
    spec = pinned_requirements().get(package)
    assert spec is not None, f"{package} is run by a container but missing from requirements.txt"
    assert spec.startswith("=="), f"{package} must be pinned with == in requirements.txt, found {spec!r}"


def gunicorn_check(argv: list[str]) -> None:
    """Fail unless gunicorn is installed in the image and its WSGI target imports."""
    requirement_check("gunicorn")
    try:
        # gunicorn's own parser, so option values are never mistaken for the target.
        targets = GunicornConfig().parser().parse_args(argv[1:]).args
    except SystemExit:
        pytest.fail(f"gunicorn rejects its arguments: {argv}", pytrace=False)
    assert len(targets) == 1, f"gunicorn needs exactly one WSGI target, got {targets}"
    module_name, _, attribute = targets[0].partition(":")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute or "application", None)), (
        f"{module_name} has no WSGI callable {attribute or 'application'!r}"
    )


def celery_check(argv: list[str]) -> None:
    """Fail unless celery is installed in the image, --app names a Celery app and the subcommand exists."""
    requirement_check("celery")
    app_name = option_value(argv, "--app", "-A")
    assert app_name, f"celery is started without --app: {argv}"
    assert isinstance(find_app(app_name), Celery), f"--app {app_name} does not name a Celery application"
    subcommands = [arg for arg in argv[1:] if arg in celery_cli.commands]
    assert subcommands, f"no celery subcommand (one of {sorted(celery_cli.commands)}) in {argv}"


def manage_check(argv: list[str]) -> None:
    """Fail unless `python manage.py NAME ...` names a management command that accepts its arguments."""
    assert argv[1:2] == ["manage.py"], f"python only runs manage.py commands here: {argv}"
    assert len(argv) > 2, f"manage.py is started without a command: {argv}"
    name, arguments = argv[2], argv[3:]
    commands = get_commands()
    assert name in commands, f"manage.py has no command {name!r}"
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        parser.parse_args(arguments)
    except CommandError as exc:
        pytest.fail(f"manage.py {name} rejects {arguments}: {exc}", pytrace=False)


EXECUTABLE_CHECKS = {"gunicorn": gunicorn_check, "celery": celery_check, "python": manage_check}


def app_commands() -> list:
    """Return, per built service and for the Dockerfile itself, the command its container runs."""
    params = [pytest.param(dockerfile_cmd(DOCKERFILE), id="Dockerfile CMD")]
    for name, service in built_services().items():
        if "command" in service:
            argv = argv_split(service["command"])
        else:
            argv = dockerfile_cmd(build_paths(service["build"])[1])
        params.append(pytest.param(argv, id=name))
    return params


def test_expected_services_exist():
    """Define every service of the production-shaped stack."""
    missing = EXPECTED_SERVICES - services().keys()
    assert not missing, f"docker-compose.yml lacks services: {sorted(missing)}"


def test_every_service_has_image_or_build():
    """Give every service an image or a build."""
    bare = [name for name, service in services().items() if "image" not in service and "build" not in service]
    assert not bare, f"services with neither image nor build: {bare}"


def test_build_contexts_and_dockerfiles_exist():
    """Build every built service from a context and Dockerfile present in the repository."""
    for name, service in built_services().items():
        context, dockerfile = build_paths(service["build"])
        assert context.is_dir(), f"{name}: build context {context} does not exist"
        assert dockerfile.is_file(), f"{name}: Dockerfile {dockerfile} does not exist"


def test_env_files_exist_unless_optional():
    """Point every required env_file at an existing file."""
    for name, service in services().items():
        entries = service.get("env_file") or []
        for entry in [entries] if isinstance(entries, str | dict) else entries:
            if isinstance(entry, str):
                entry = {"path": entry}
            if entry.get("required", True):
                path = COMPOSE_FILE.parent / entry["path"]
                assert path.is_file(), f"{name}: env_file {entry['path']} does not exist"


def test_relative_bind_mount_sources_exist():
    """Mount only relative host paths that exist in the repository."""
    for name, service in services().items():
        for volume in service.get("volumes") or []:
            if isinstance(volume, str):
                source = volume.split(":", 1)[0] if ":" in volume else None
            else:
                source = volume.get("source") if volume.get("type") == "bind" else None
            # A source without a leading dot is a named volume or an absolute path outside the repo.
            if source and source.startswith("."):
                path = COMPOSE_FILE.parent / source
                assert path.exists(), f"{name}: bind-mount source {source} does not exist"


# Importing the WSGI module builds whitenoise, which warns that collectstatic (a build step) never ran here.
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
@pytest.mark.parametrize("argv", app_commands())
def test_app_command_resolves(argv):
    """Start only executables the image installs, with targets the project defines."""
    assert argv, "empty command"
    check = EXECUTABLE_CHECKS.get(argv[0])
    assert check, f"no check for executable {argv[0]!r}; add one to EXECUTABLE_CHECKS"
    check(argv)


def test_beat_runs_at_most_one_replica():
    """Run a single beat, since every beat publishes every scheduled tick."""
    beat = services()["beat"]
    replicas = (beat.get("deploy") or {}).get("replicas", beat.get("scale", 1))
    assert replicas <= 1, f"beat has {replicas} replicas; two beats would double every tick"


def test_web_publishes_port_8000():
    """Publish the web container's port 8000 on the host's port 8000."""
    published = set()
    for port in services()["web"].get("ports") or []:
        if isinstance(port, dict):
            published.add((str(port.get("published")), str(port.get("target"))))
        else:
            parts = str(port).split("/", 1)[0].split(":")
            if len(parts) >= 2:
                published.add((parts[-2], parts[-1]))
    assert (str(WEB_PORT), str(WEB_PORT)) in published, f"web does not publish {WEB_PORT}:{WEB_PORT}"


def test_no_password_is_written_in_the_file():
    """Secrets come from the environment (`${NAME:?…}`), never from the compose file itself."""
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert password.startswith("${POSTGRES_PASSWORD:?")
    url = compose["x-app"]["environment"]["DATABASE_URL"]
    assert re.fullmatch(r"postgres://campanile:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432/campanile", url)
