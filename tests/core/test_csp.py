import pytest
from django.test import Client

from delivery import tokens
from tests.factories import StepExecutionFactory

pytestmark = pytest.mark.django_db


def _policy(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))


def test_only_the_admin_may_evaluate_its_themes_expressions_and_public_pages_keep_the_strict_policy(
    admin_client,
):
    row = StepExecutionFactory()
    unsubscribe = tokens.step_execution_token(tracking_id=row.tracking_id, purpose=tokens.UNSUBSCRIBE)
    admin_pages = [
        admin_client.get("/admin/"),
        admin_client.get("/admin/campaigns/campaign/"),
        Client().get("/admin/login/"),
    ]
    for page in admin_pages:
        policy = _policy(page)
        # Alpine.js (the theme) evaluates its attributes' expressions and sets a few style
        # attributes; scripts still come only from here, <style> elements only with the nonce.
        assert policy["script-src"] == "'self' 'unsafe-eval'"
        assert policy["style-src-attr"] == "'unsafe-inline'"
        assert "unsafe-inline" not in policy["style-src"]
    public_pages = [Client().get(f"/u/{unsubscribe}"), Client().get("/api/docs/"), Client().get("/healthz")]
    for page in public_pages:
        policy = _policy(page)
        assert policy["script-src"] == "'self'"
        assert "style-src-attr" not in policy
        assert "unsafe" not in page["Content-Security-Policy"]
