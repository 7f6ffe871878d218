"""The suppression list: addresses never mailed again, whatever list they are on."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from campaigns.consent import ConsentActor, reason_given, suppressions_opt_out
from campaigns.erasure import (
    address_erasure_suppress,
    addresses_erased,
    addresses_erased_suppressed,
    erasures_hold_off,
)
from campaigns.exceptions import ReasonMissing, SuppressedSinceRemoval
from campaigns.models import Suppression, SuppressionRemoval
from core.addresses import email_normalize


def addresses_suppressed(*, emails: Iterable[str], marketing: bool) -> dict[str, str]:
    """Return those of the addresses (in stored form) nothing may mail, each with its reason: on
    the suppression list, or erased with a bounce or complaint its entry keeps. For transactional
    mail (not `marketing`), an unsubscribe kept as a suppression stops nothing (a bounce or
    complaint whose owner opted out too stops it: it is held for that reason)."""
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
    replaces it, the row keeping `opted_out`; an unsubscribe added to a row of another reason marks
    it `opted_out`. An erased address gets no row: its erasure entry keeps the reason (None, False).
    """
    with transaction.atomic():
        erasures_hold_off()  # An erasure landing between the check and the insert would miss it.
        return _suppression_add(email=email, reason=reason, source=source, detail=detail)


def _suppression_add(*, email: str, reason: str, source: str, detail: str) -> tuple[Suppression | None, bool]:
    if address_erasure_suppress(email=email, reason=reason):
        return None, False
    opting_out = reason == Suppression.Reason.UNSUBSCRIBE
    row, created = Suppression.objects.get_or_create(
        email=email_normalize(email),
        defaults={"reason": reason, "source": source, "detail": detail, "opted_out": opting_out},
    )
    if created:
        return row, created
    if opting_out and not row.opted_out:
        # The bounce or complaint stays the reason; the opt-out outlives it (suppression_remove).
        suppressions_opt_out(emails=[row.email])
        row.opted_out = True
    elif row.reason == Suppression.Reason.UNSUBSCRIBE != reason:
        # Its time becomes the new reason's: what is pushed to SES's account list goes by that time.
        # The opt-out stays with the row, so lifting the new reason lifts only that.
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
    are new, how many were suppressed already (they keep their first reason, as suppression_add
    has it: an unsubscribe gives way, or marks another reason `opted_out`), and how many were
    erased (their erasure entries keep the reason, as suppression_add does)."""
    with transaction.atomic():
        erasures_hold_off()
        erased = addresses_erased(emails=emails)
        for email in erased:
            address_erasure_suppress(email=email, reason=reason)
        unique = sorted(set(emails) - erased)
        opting_out = reason == Suppression.Reason.UNSUBSCRIBE
        before = Suppression.objects.count()
        Suppression.objects.bulk_create(
            [
                Suppression(email=email, reason=reason, source=source, detail=detail, opted_out=opting_out)
                for email in unique
            ],
            batch_size=2000,
            ignore_conflicts=True,
        )
        added = Suppression.objects.count() - before
        if opting_out:
            suppressions_opt_out(emails=unique)
        else:
            # As suppression_add: a kept unsubscribe stops campaigns only, so a bounce or complaint
            # replaces it, and stops transactional mail too.
            for start in range(0, len(unique), 2000):
                Suppression.objects.filter(
                    email__in=unique[start : start + 2000], reason=Suppression.Reason.UNSUBSCRIBE
                ).update(reason=reason, source=source, detail=detail, created_at=timezone.now())
    return added, len(unique) - added, len(erased)


@dataclass(frozen=True)
class SuppressionRemoved:
    """What suppression_remove did: true when the suppression was still there and is lifted."""

    #: It was there, and its removal is on record.
    removed: bool
    #: Its owner's opt-out, kept as an `unsubscribe` when a bounce or complaint was lifted.
    kept: Suppression | None = None
    #: The same removal came again (a retry, a form posted twice): nothing changed, nothing recorded.
    repeated: bool = False

    def __bool__(self) -> bool:
        return self.removed


def suppression_remove(*, suppression: Suppression, actor: ConsentActor, reason: str) -> SuppressionRemoved:
    """Take an address off the suppression list and record who did it, when and why; say whether
    it was still there, and the opt-out kept if its owner had opted out too.

    Lifting a bounce or complaint of such an address lifts only that: the row becomes an
    `unsubscribe` again, so campaigns still skip the address and transactional mail may go; lifting
    that takes a second removal, with a reason of its own. The same removal sent again (a client's
    retry, two at once, a form posted twice) finds the opt-out it kept and answers as the first did,
    lifting nothing more; finding instead any suppression recorded since that removal (a bounce on
    the opt-out it kept, a new row after it deleted the old, the opt-out a later removal kept), it
    raises SuppressedSinceRemoval: what the first never saw takes a removal of its own, with a new
    reason. Raises ReasonMissing when the reason says nothing: mailing an address again that
    bounced, complained or opted out is a consent change, audited as one.
    """
    if not reason_given(reason):
        raise ReasonMissing("Say why the address may be mailed again: send a reason.")
    reason = reason[:500]
    with transaction.atomic():
        row = Suppression.objects.select_for_update().filter(pk=suppression.pk).first()
        if row is None:  # Removed meanwhile, by another request: that one recorded it.
            return SuppressionRemoved(removed=False)
        if (repeated := _removal_repeated(row=row, reason=reason)) is not None:
            if row.reason == Suppression.Reason.UNSUBSCRIBE and row.created_at == repeated.removed_at:
                return SuppressionRemoved(removed=True, kept=row, repeated=True)
            facts: dict[str, Any] = {
                "suppression_reason": row.reason,
                "suppressed_at": row.created_at,
                "removed_at": repeated.removed_at,
            }
            raise SuppressedSinceRemoval(suppressed_since_removal_said(**facts, named=True), **facts)
        now = timezone.now()
        SuppressionRemoval.objects.create(
            email=row.email,
            suppression_reason=row.reason,
            suppressed_at=row.created_at,
            removed_at=now,
            by=actor.by,
            actor=actor.name[:200],
            user=actor.user,
            reason=reason,
        )
        if row.opted_out and row.reason != Suppression.Reason.UNSUBSCRIBE:
            return SuppressionRemoved(removed=True, kept=_opt_out_keep(row=row, now=now))
        row.delete()
    return SuppressionRemoved(removed=True)


def _removal_repeated(*, row: Suppression, reason: str) -> SuppressionRemoval | None:
    """Return the removal that one giving this very reason repeats: the last of its address giving
    that reason at or before the time the row's suppression was recorded.

    _opt_out_keep dates a kept opt-out with its removal's time, which names that removal. Any other
    row found so was recorded after that removal (a bounce on the kept opt-out, dated anew by
    _suppression_add; a new row after the removal deleted the old; the opt-out a later removal with
    another reason kept): that removal never saw it, so its retry must not lift it.
    """
    earlier = SuppressionRemoval.objects.filter(
        email=row.email, reason=reason, removed_at__lte=row.created_at
    )
    return earlier.order_by("-removed_at", "-pk").first()


def suppressed_since_removal_said(
    *, suppression_reason: str, suppressed_at: datetime, removed_at: datetime, named: bool
) -> str:
    """Say why a removal repeating an earlier one is refused: the address was suppressed since.

    named: whether to say for what and when (the suppression's reason and time), which only those
    who may read the suppression list are told; the earlier removal's time is the asker's own.
    """
    removed = f"{removed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    if named:
        said = gettext(
            "This address was suppressed again (%(suppression)s, on %(since)s) after the removal of "
            "%(removed)s that gave this same reason, so this is taken for that removal's retry and "
            "lifts nothing. To lift the new suppression, remove it with a removal of its own, giving a "
            "new reason."
        )
        since = f"{suppressed_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
        label = Suppression.Reason(suppression_reason).label
        return said % {"suppression": label, "since": since, "removed": removed}
    said = gettext(
        "This address was suppressed again after the removal of %(removed)s that gave this same "
        "reason, so this is taken for that removal's retry and lifts nothing. To lift the new "
        "suppression, remove it with a removal of its own, giving a new reason."
    )
    return said % {"removed": removed}


def _opt_out_keep(*, row: Suppression, now: datetime) -> Suppression:
    """Turn a lifted bounce or complaint back into its owner's opt-out, dated as its removal."""
    with translation.override("en"):  # In the engine's English, as every stored note.
        lifted = str(Suppression.Reason(row.reason).label)
    row.detail = f"Opted out; kept when its suppression ({lifted}) was lifted on {now:%Y-%m-%d}."
    row.reason, row.created_at = Suppression.Reason.UNSUBSCRIBE, now
    Suppression.objects.filter(pk=row.pk).update(reason=row.reason, detail=row.detail, created_at=now)
    return row
