"""The suppression list: addresses never mailed again, whatever list they are on."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from campaigns.consent import ConsentActor, reason_given
from campaigns.erasure import (
    address_erasure_suppress,
    addresses_erased,
    addresses_erased_suppressed,
    erasures_hold_off,
)
from campaigns.exceptions import ReasonMissing
from campaigns.models import Suppression, SuppressionRemoval
from core.addresses import email_normalize


def addresses_suppressed(*, emails: Iterable[str], marketing: bool) -> dict[str, str]:
    """Return those of the addresses (in stored form) nothing may mail, each with its reason: on
    the suppression list, or erased with a bounce or complaint its entry keeps. For transactional
    mail (not `marketing`), an unsubscribe kept as a suppression stops nothing."""
    emails = set(emails)
    rows = Suppression.objects.filter(email__in=emails)
    if not marketing:
        rows = rows.exclude(reason=Suppression.Reason.UNSUBSCRIBE)
    return addresses_erased_suppressed(emails=emails) | dict(rows.values_list("email", "reason"))


def suppression_add(
    *, email: str, reason: str, source: str, detail: str = ""
) -> tuple[Suppression | None, bool]:
    """Suppress an address; return the row and whether it is new. The first reason is kept.

    Except an unsubscribe's: it stops campaigns only, so a bounce or a complaint that follows
    replaces it. An erased address gets no row: its erasure entry keeps the reason (None, False).
    """
    with transaction.atomic():
        erasures_hold_off()  # An erasure landing between the check and the insert would miss it.
        return _suppression_add(email=email, reason=reason, source=source, detail=detail)


def _suppression_add(*, email: str, reason: str, source: str, detail: str) -> tuple[Suppression | None, bool]:
    if address_erasure_suppress(email=email, reason=reason):
        return None, False
    row, created = Suppression.objects.get_or_create(
        email=email_normalize(email), defaults={"reason": reason, "source": source, "detail": detail}
    )
    if not created and row.reason == Suppression.Reason.UNSUBSCRIBE != reason:
        # Its time becomes the new reason's: what is pushed to SES's account list goes by that time.
        now = timezone.now()
        Suppression.objects.filter(pk=row.pk, reason=Suppression.Reason.UNSUBSCRIBE).update(
            reason=reason, source=source, detail=detail, created_at=now
        )
        row.reason, row.source, row.detail, row.created_at = reason, source, detail, now
    return row, created


def suppressions_add_bulk(
    *, emails: list[str], reason: str, source: str, detail: str = ""
) -> tuple[int, int, int]:
    """Suppress many addresses (each in the address rule's stored form) at once; return how many
    are new, how many were suppressed already (they keep their first reason), and how many were
    erased (their erasure entries keep the reason, as suppression_add does)."""
    with transaction.atomic():
        erasures_hold_off()
        erased = addresses_erased(emails=emails)
        for email in erased:
            address_erasure_suppress(email=email, reason=reason)
        unique = sorted(set(emails) - erased)
        before = Suppression.objects.count()
        Suppression.objects.bulk_create(
            [Suppression(email=email, reason=reason, source=source, detail=detail) for email in unique],
            batch_size=2000,
            ignore_conflicts=True,
        )
        added = Suppression.objects.count() - before
        if reason != Suppression.Reason.UNSUBSCRIBE:
            # As suppression_add: a kept unsubscribe stops campaigns only, so a bounce or complaint
            # replaces it, and stops transactional mail too.
            for start in range(0, len(unique), 2000):
                Suppression.objects.filter(
                    email__in=unique[start : start + 2000], reason=Suppression.Reason.UNSUBSCRIBE
                ).update(reason=reason, source=source, detail=detail, created_at=timezone.now())
    return added, len(unique) - added, len(erased)


def suppression_remove(*, suppression: Suppression, actor: ConsentActor, reason: str) -> bool:
    """Take an address off the suppression list and record who did it, when and why; return
    whether it was still there. Raises ReasonMissing when the reason says nothing: mailing an
    address again that bounced, complained or opted out is a consent change, audited as one."""
    if not reason_given(reason):
        raise ReasonMissing("Say why the address may be mailed again: send a reason.")
    with transaction.atomic():
        row = Suppression.objects.select_for_update().filter(pk=suppression.pk).first()
        if row is None:  # Removed meanwhile, by another request: that one recorded it.
            return False
        SuppressionRemoval.objects.create(
            email=row.email,
            suppression_reason=row.reason,
            suppressed_at=row.created_at,
            by=actor.by,
            actor=actor.name[:200],
            user=actor.user,
            reason=reason[:500],
        )
        row.delete()
    return True
