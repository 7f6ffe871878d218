"""Erasure at a contact's request: the profile goes; the address stays only as a keyed hash.

The hash lets Campanile refuse to add the address again by accident (an old file imported, a sync
re-adding it) without keeping the address itself. It is an HMAC keyed from SECRET_KEY, so a copy of
the database alone cannot test guesses against it; SECRET_KEY_FALLBACKS keep old hashes readable
after a key rotation. The other apps' share of an erasure (ledger rows, events) is theirs; the top
app composes them (console.erasure).
"""

from collections.abc import Iterable

from django.db import connection, transaction
from django.db.models import Q
from django.utils.translation import gettext

from campaigns.exceptions import AddressErased
from campaigns.models import Contact, ErasedAddress, Signup, Suppression, SuppressionRemoval
from core.addresses import email_normalize
from core.digests import keyed_digests

#: Rows per query when a bulk write checks its addresses.
_CHUNK = 5000

#: Only these suppressions outlive an erasure: an unsubscribe's meaning (no campaign mail) is
#: already held by the hash, which keeps every campaign from the address.
_KEPT_REASONS = frozenset(Suppression.Reason.values) - {Suppression.Reason.UNSUBSCRIBE}


#: The advisory lock an erasure holds alone, and writes that check addresses hold together.
_ERASURE_LOCK = "campanile.erasure"


def _erasure_lock(function: str) -> None:
    if connection.vendor == "postgresql":  # SQLite writes one transaction at a time anyway.
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {function}(hashtextextended(%s, 0))", [_ERASURE_LOCK])


def erasures_hold_off() -> None:
    """Hold erasures off until this transaction ends: a write that finds an address not erased
    must not add it just after an erasure commits. Call it first in the transaction, before any
    row lock (an erasure takes its lock first too); writers share it, never waiting on each other."""
    _erasure_lock("pg_advisory_xact_lock_shared")


def erasure_exclusive() -> None:
    """Wait for the writes under way that checked their addresses, and hold new ones off, until
    this transaction ends."""
    _erasure_lock("pg_advisory_xact_lock")


def address_erasure_refuse(*, email: str) -> None:
    """Refuse to add an erased address, checked under the erasures' lock so that none lands
    before the write: call it first in the write's transaction. Raises AddressErased."""
    erasures_hold_off()
    if address_erasure(email=email) is not None:
        raise AddressErased(erased_refusal())


def erased_refusal() -> str:
    """Return why an erased address is not taken, in the reader's language."""
    return gettext(
        "This address was erased at its owner's request, so it is not added again. Its owner may "
        "sign up again through a signup form."
    )


def _digests(email: str) -> list[str]:
    return keyed_digests(purpose="erased-address", value=email)


def address_digest(*, email: str) -> str:
    """Return the hash an erased address is kept as (under the current SECRET_KEY)."""
    return address_digests_all(email=email)[0]


def address_digests_all(*, email: str) -> list[str]:
    """Return every hash an erased address may be kept as: under SECRET_KEY and each fallback."""
    return _digests(email_normalize(email))


def addresses_erased(*, emails: Iterable[str]) -> set[str]:
    """Return those of the addresses (in stored form) that were erased."""
    return set(_erasures(emails))


def addresses_erased_suppressed(*, emails: Iterable[str]) -> dict[str, str]:
    """Return those of the addresses (in stored form) erased with a suppression kept (a bounce, a
    complaint: never an unsubscribe), each with its reason."""
    return {email: reason for email, reason in _erasures(emails).items() if reason in _KEPT_REASONS}


def _erasures(emails: Iterable[str]) -> dict[str, str]:
    """Return the erased ones of the addresses, each with the suppression its entry keeps or ""."""
    if not ErasedAddress.objects.exists():  # The usual case costs one query, no hashing.
        return {}
    by_digest = {digest: email for email in set(emails) for digest in _digests(email)}
    digests = list(by_digest)
    found: dict[str, str] = {}
    for start in range(0, len(digests), _CHUNK):
        chunk = ErasedAddress.objects.filter(digest__in=digests[start : start + _CHUNK])
        for digest, reason in chunk.values_list("digest", "suppression_reason"):
            found[by_digest[digest]] = reason
    return found


def _entries(email: str):
    """Return the erasure entries of an address, under the current key and the fallbacks."""
    return ErasedAddress.objects.filter(digest__in=address_digests_all(email=email))


def address_erasure(*, email: str) -> ErasedAddress | None:
    """Return the erasure entry of an address, if it was erased."""
    return _entries(email).first()


def address_erasure_suppress(*, email: str, reason: str) -> bool:
    """Keep a suppression reported for an erased address on its entry; False if not erased.

    A bounce or a complaint outranks an unsubscribe, as in suppression_add; otherwise the first
    reason stays.
    """
    if Contact.objects.filter(email=email_normalize(email)).exists():
        return False  # It came back: its suppression is an ordinary row again.
    entry = address_erasure(email=email)
    if entry is None:
        return False
    if reason in _KEPT_REASONS and entry.suppression_reason in ("", Suppression.Reason.UNSUBSCRIBE):
        ErasedAddress.objects.filter(pk=entry.pk).update(suppression_reason=reason)
    return True


def address_erasure_return(*, email: str) -> None:
    """Restore the suppression an erased address held, as a contact is made for it again.

    The entry stays: bulk writes still refuse the address until its owner confirms a signup.
    """
    entry = address_erasure(email=email)
    if entry is not None and entry.suppression_reason:
        Suppression.objects.get_or_create(
            email=email_normalize(email),
            defaults={
                "reason": entry.suppression_reason,
                "source": Suppression.Source.ERASURE,
                "detail": f"Held while the address was erased ({entry.erased_at:%Y-%m-%d}).",
            },
        )


def address_erasure_lift(*, email: str) -> int:
    """Forget that an address was erased: its owner confirmed a signup. Return entries deleted."""
    deleted, _ = _entries(email).delete()
    return deleted


def contact_addresses_own(*, contact: Contact, also: Iterable[str] = ()) -> set[str]:
    """Return a contact's address and those it held before (its former ones, and `also`: others
    the caller knows it held) that no other contact holds now: one another holds speaks of them."""
    former = {*contact.former_emails, *also} - {contact.email}
    others = set(Contact.objects.filter(email__in=former).values_list("email", flat=True))
    return {contact.email, *(former - others)}


@transaction.atomic
def contact_profile_erase(*, contact: Contact, by: str, former: Iterable[str] = ()) -> ErasedAddress:
    """Delete a contact's profile and every row of this app naming its address; keep the hash.

    `former`: addresses it held before (its mail went to them) and no contact holds now; they are
    erased as its own. Its lists, consents, consent history and signups go with it. Call it after
    the apps above have detached and anonymized their rows (console.erasure), or they go with it.
    Return the entry of its address.
    """
    emails = [contact.email, *former]
    entries = [_address_erase(email=email, by=by) for email in emails]
    Contact.objects.filter(pk=contact.pk).delete()
    _former_addresses_forget(emails=set(emails))
    return entries[0]


def _former_addresses_forget(*, emails: set[str]) -> None:
    """Take erased addresses out of the former addresses other contacts keep: one that held an
    address before its erased owner did keeps no trace of it."""
    holders = Contact.objects.exclude(former_emails=[])
    if connection.vendor == "postgresql":  # jsonb containment, on the rows that hold one.
        holding = Q()
        for email in emails:
            holding |= Q(former_emails__contains=[email])
        holders = holders.filter(holding)
    for pk, former in holders.values_list("pk", "former_emails"):
        kept = [email for email in former if email not in emails]
        if kept != former:
            Contact.objects.filter(pk=pk).update(former_emails=kept)


def _address_erase(*, email: str, by: str) -> ErasedAddress:
    suppression = Suppression.objects.filter(email=email).first()
    reason = suppression.reason if suppression is not None and suppression.reason in _KEPT_REASONS else ""
    entry, _ = ErasedAddress.objects.update_or_create(
        digest=address_digest(email=email), defaults={"by": by[:200], "suppression_reason": reason}
    )
    Suppression.objects.filter(email=email).delete()
    SuppressionRemoval.objects.filter(email=email).delete()
    Signup.objects.filter(email=email).delete()
    return entry
