import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _import_settings(**env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings as s; print(s.DATABASES['default']['ENGINE'])"],
        cwd=ROOT,
        env={**clean, "DJANGO_ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _import_settings()
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is required" in result.stderr


def test_sns_signature_checks_cannot_be_switched_off_in_production():
    refused = _import_settings(DJANGO_SECRET_KEY="x", SNS_VERIFY_SIGNATURES="false")
    assert refused.returncode != 0
    assert "SNS_VERIFY_SIGNATURES can only be turned off with DJANGO_DEBUG on" in refused.stderr
    allowed = _import_settings(DJANGO_DEBUG="true", SNS_VERIFY_SIGNATURES="false")
    assert allowed.returncode == 0, allowed.stderr


def test_a_trusted_development_certificate_is_refused_in_production():
    refused = _import_settings(DJANGO_SECRET_KEY="x", SNS_DEV_CERTIFICATE="var/ses/cert.pem")
    assert refused.returncode != 0
    assert "SNS_DEV_CERTIFICATE can only be set with DJANGO_DEBUG on" in refused.stderr
    assert _import_settings(DJANGO_DEBUG="true", SNS_DEV_CERTIFICATE="var/ses/cert.pem").returncode == 0


def test_debug_run_falls_back_to_sqlite_and_a_local_key():
    result = _import_settings(DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_database_url_selects_postgresql():
    result = _import_settings(DJANGO_SECRET_KEY="x", DATABASE_URL="postgres://u@127.0.0.1:5432/db")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def _variables_read_by_settings() -> set[str]:
    tree = ast.parse((ROOT / "config" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if (
                called in {"env_or_default", "str", "int", "float", "bool", "list"}
                and str(node.args[0].value).isupper()
            ):
                names.add(node.args[0].value)
    return names


def test_every_environment_variable_is_documented():
    names = _variables_read_by_settings()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"} <= names
    example = (ROOT / ".env.example").read_text()
    reference = (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(n for n in names if f"{n}=" not in example or f"`{n}`" not in reference)
    assert missing == []


def test_a_copied_env_example_loads_with_its_empty_values():
    example = (ROOT / ".env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in example if line and not line.startswith("#"))
    result = _import_settings(**{**values, "DJANGO_SECRET_KEY": "x"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


def test_every_test_the_docs_name_exists():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    named = {name for doc in docs for name in re.findall(r"`(test_\w+)`", doc.read_text())}
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"^def (test_\w+)", path.read_text(), flags=re.MULTILINE)
    }
    assert len(named) > 20  # The reliability page's tables.
    assert sorted(named - defined) == []


def test_the_tests_ignore_the_callers_configuration_and_env_file(tmp_path):
    env_file = tmp_path / "local.env"
    env_file.write_text("DJANGO_DEBUG=true\nSES_MAX_SEND_RATE=3\n")
    caller = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_test",
        "DJANGO_ENV_FILE": str(env_file),
        "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:1",
        "SES_CONFIGURATION_SET": "someones-set",
        "LOG_LEVEL": "DEBUG",
    }
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "from config.celery import app; "
        "print(settings.DEBUG, settings.SES_MAX_SEND_RATE, settings.SES_CONFIGURATION_SET or '-', "
        "settings.AWS_ENDPOINT_URL, app.conf.broker_url == (settings.REDIS_URL or 'memory://'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=caller, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "10000.0", "-", "None", "True"]
