import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

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


PRODUCTION_LIKE = {
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-like-secret-key-of-fifty-characters",
    "PUBLIC_BASE_URL": "https://campanile.example.com",
}


def _settings_of(names: str, **env) -> list[str]:
    """Return the values of some settings (space-separated names) as the settings module makes them."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    probe = "import config.settings as s; print(*(repr(getattr(s, n)) for n in {!r}.split()), sep='|')"
    result = subprocess.run(
        [sys.executable, "-c", probe.format(names)],
        cwd=ROOT,
        env={**clean, "DJANGO_ENV_FILE": "", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().split("|")


def test_check_deploy_finds_nothing_to_warn_of_in_a_production_like_environment():
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={**clean, "DJANGO_ENV_FILE": "", **PRODUCTION_LIKE},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_https_hardening_follows_public_base_url_and_debug():
    names = "SECURE_HSTS_SECONDS SECURE_SSL_REDIRECT SESSION_COOKIE_SECURE CSRF_COOKIE_SECURE"
    names += " ADMIN_REQUIRE_SECOND_FACTOR SECURE_HSTS_INCLUDE_SUBDOMAINS SECURE_HSTS_PRELOAD"
    production = _settings_of(names, **PRODUCTION_LIKE)
    assert production == ["31536000", "True", "True", "True", "True", "False", "False"]
    plain = {**PRODUCTION_LIKE, "PUBLIC_BASE_URL": "http://localhost:8000"}  # docker compose's demo
    assert _settings_of(names, **plain) == ["0", "False", "True", "True", "True", "False", "False"]
    # make run's demo: debug on, plain HTTP, and its published login works without a phone.
    demo = {"DJANGO_DEBUG": "true", "PUBLIC_BASE_URL": "http://127.0.0.1:8000"}
    assert _settings_of(names, **demo) == ["0", "False", "False", "False", "False", "False", "False"]
    opted_in = {**PRODUCTION_LIKE, "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true", "SECURE_HSTS_PRELOAD": "true"}
    assert _settings_of(names, **opted_in)[-2:] == ["True", "True"]


def test_the_proxy_tls_header_is_only_believed_behind_trusted_proxies():
    refused = _import_settings(**PRODUCTION_LIKE, SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto")
    assert refused.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER needs TRUSTED_PROXIES" in refused.stderr
    behind = {**PRODUCTION_LIKE, "TRUSTED_PROXIES": "10.0.0.0/8"}
    assert _settings_of("SECURE_PROXY_SSL_HEADER", **behind) == ["('HTTP_X_FORWARDED_PROTO', 'https')"]
    assert _settings_of("SECURE_PROXY_SSL_HEADER", **PRODUCTION_LIKE) == ["None"]


@pytest.mark.django_db
def test_every_response_carries_the_hardening_headers_and_cookies(settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000  # As with an https PUBLIC_BASE_URL (the test above).
    from tests.factories import StaffUserFactory

    StaffUserFactory(username="ed")
    client = Client()
    page = client.get("/admin/login/", secure=True)
    assert page["Strict-Transport-Security"] == "max-age=31536000"
    assert page["X-Content-Type-Options"] == "nosniff"
    assert page["Referrer-Policy"] == "same-origin"
    assert page["X-Frame-Options"] == "DENY"
    policy = dict(part.strip().split(" ", 1) for part in page["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    # The admin's theme evaluates its own attributes' expressions (core/csp.py); no inline script.
    assert policy["script-src"] == "'self' 'unsafe-eval'"
    assert policy["object-src"] == policy["base-uri"] == policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self'"
    csrf = page.cookies["csrftoken"]
    assert (csrf["secure"], csrf["samesite"]) == (True, "Lax")
    logged_in = client.post(
        "/admin/login/", {"username": "ed", "password": "a long password 42"}, secure=True
    )
    session = logged_in.cookies["sessionid"]
    assert (session["secure"], session["httponly"], session["samesite"]) == (True, True, "Lax")


@pytest.mark.django_db
def test_inline_styles_carry_the_nonce_the_policy_names_on_admin_and_public_pages(admin_client):
    from delivery import tokens
    from tests.factories import StepExecutionFactory

    row = StepExecutionFactory()
    token = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    pages = [
        admin_client.get(f"/admin/campaigns/campaign/{row.step.campaign_id}/report/"),
        admin_client.get("/admin/delivery/stepexecution/dashboard/"),
        Client().get(f"/u/{token}"),
        Client().get("/api/docs/"),
    ]
    for page in pages:
        assert page.status_code == 200
        (nonce,) = re.findall(r"style-src 'self' 'nonce-([^']+)'", page["Content-Security-Policy"])
        styles = re.findall(r"<style([^>]*)>", page.content.decode())
        assert styles
        assert set(styles) == {f' nonce="{nonce}"'}


def test_no_template_has_inline_scripts_event_handlers_or_style_attributes():
    templates = [*(ROOT / "templates").rglob("*.html"), *ROOT.glob("*/templates/**/*.html")]
    refused = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>|\son[a-z]+\s*=|\sstyle\s*=", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in templates
        for match in refused.finditer(path.read_text())
    ]
    assert len(templates) > 10
    assert found == []
