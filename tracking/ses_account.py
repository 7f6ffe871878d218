"""SES's account-level suppression list, kept in step with ours both ways."""

from datetime import datetime

import boto3
from django.conf import settings

from campaigns.models import Suppression
from campaigns.suppressions import suppression_add

# Local reasons SES's own list knows, and the reverse.
_SES_REASONS: dict[str, str] = {
    Suppression.Reason.HARD_BOUNCE: "BOUNCE",
    Suppression.Reason.COMPLAINT: "COMPLAINT",
}


def sesv2_client():
    """Return an SESv2 client for our region and endpoint."""
    return boto3.client("sesv2", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL)


def suppressions_pull_from_ses(*, since: datetime | None = None) -> int:
    """Copy addresses on SES's account-level suppression list into ours; return how many were new.

    SES refuses to send to them anyway; knowing them here keeps them out of fan-outs and counts.
    """
    client, added, token = sesv2_client(), 0, None
    while True:
        params = {
            "PageSize": 1000,
            **({"StartDate": since} if since else {}),
            **({"NextToken": token} if token else {}),
        }
        page = client.list_suppressed_destinations(**params)
        for item in page.get("SuppressedDestinationSummaries", []):
            _row, created = suppression_add(
                email=item["EmailAddress"],
                reason=Suppression.Reason.ACCOUNT_SUPPRESSION,
                source=Suppression.Source.SES,
                detail=f"On the SES account suppression list ({item.get('Reason', '?')}).",
            )
            added += created
        token = page.get("NextToken")
        if not token:
            return added


def suppressions_push_to_ses(*, since: datetime | None = None) -> int:
    """Put our hard-bounce and complaint suppressions on SES's account list; return how many.

    PutSuppressedDestination is idempotent, so an overlapping window costs calls, not mistakes.
    """
    client = sesv2_client()
    rows = Suppression.objects.filter(reason__in=list(_SES_REASONS)).order_by("pk")
    if since:
        rows = rows.filter(created_at__gte=since)
    pushed = 0
    for email, reason in rows.values_list("email", "reason").iterator():
        client.put_suppressed_destination(EmailAddress=email, Reason=_SES_REASONS[reason])
        pushed += 1
    return pushed
