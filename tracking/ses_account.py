"""SES's account-level suppression list, kept in step with ours both ways."""

from datetime import datetime

import boto3
from django.conf import settings
from django.db.models import Exists, Max, OuterRef

from campaigns.models import Suppression, SuppressionRemoval
from campaigns.suppressions import suppression_add
from core.addresses import email_normalize

# Local reasons SES's own list knows, and the reverse.
_SES_REASONS: dict[str, str] = {
    Suppression.Reason.HARD_BOUNCE: "BOUNCE",
    Suppression.Reason.COMPLAINT: "COMPLAINT",
}
#: Local reasons that put an address on SES's list: ours pushed there, and what we pulled from it.
_ON_SES_LIST = [*_SES_REASONS, Suppression.Reason.ACCOUNT_SUPPRESSION]


def sesv2_client():
    """Return an SESv2 client for our region and endpoint."""
    return boto3.client("sesv2", region_name=settings.AWS_REGION, endpoint_url=settings.AWS_ENDPOINT_URL)


def suppressions_pull_from_ses(*, since: datetime | None = None) -> int:
    """Copy addresses on SES's account-level suppression list into ours; return how many were new.

    SES refuses to send to them anyway; knowing them here keeps them out of fan-outs and counts.
    An address removed here since SES listed it is left out: its removal is SES's to hear of
    (suppressions_delete_from_ses), not to be undone by a pull that came first.
    """
    client, added, token = sesv2_client(), 0, None
    while True:
        params = {
            "PageSize": 1000,
            **({"StartDate": since} if since else {}),
            **({"NextToken": token} if token else {}),
        }
        page = client.list_suppressed_destinations(**params)
        items = page.get("SuppressedDestinationSummaries", [])
        removed = _removed_since_listed(items)
        for item in items:
            if email_normalize(item["EmailAddress"]) in removed:
                continue
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


def suppressions_delete_from_ses(*, since: datetime | None = None) -> int:
    """Take off SES's account list the addresses whose bounce, complaint or account suppression was
    removed here (since `since`) and that nothing of the kind holds again; return how many were on it.

    Else SES goes on refusing to send to them, and the next pull lists them again. Run it after
    the pull: an address SES listed again after its removal is ours again by then, and kept.
    """
    client, deleted = sesv2_client(), 0
    removals = SuppressionRemoval.objects.filter(suppression_reason__in=_ON_SES_LIST)
    if since:
        removals = removals.filter(removed_at__gte=since)
    held = Suppression.objects.filter(email=OuterRef("email"), reason__in=_ON_SES_LIST)
    emails = removals.exclude(Exists(held)).order_by("email").values_list("email", flat=True).distinct()
    for email in emails.iterator():
        try:
            client.delete_suppressed_destination(EmailAddress=email)
        except client.exceptions.NotFoundException:
            continue  # Never on it, or taken off already: by an earlier sync, or at SES.
        deleted += 1
    return deleted


def _removed_since_listed(items: list[dict]) -> set[str]:
    """Return the addresses (in stored form) of SES's list entries whose latest removal here is newer."""
    listed = {email_normalize(item["EmailAddress"]): item["LastUpdateTime"] for item in items}
    latest = (
        SuppressionRemoval.objects.filter(email__in=listed)
        .values("email")
        .annotate(latest=Max("removed_at"))
        .values_list("email", "latest")
    )
    return {email for email, removed_at in latest if removed_at > listed[email]}
