"""Deleting what load tests made: their campaigns, lists, contacts and messages, never the marketer's."""

from django.db import transaction
from django.db.models import Q, QuerySet

from campaigns.consent import contacts_delete
from campaigns.models import Campaign, CampaignStep, Contact, ContactList, Suppression
from core.models import ApiKey
from delivery.models import StepExecution, TransactionalMessage
from loadtest.exceptions import LoadTestError
from loadtest.models import LoadTestRun
from loadtest.proof import run_name

#: Rows deleted per statement: a big run's rows go in short transactions that each hold their
#: locks briefly, and memory stays flat (Django loads the rows it deletes, for their cascades).
CLEANUP_BATCH = 2_000


def _loadtest_data(*, label: str | None) -> dict[str, QuerySet]:
    """Return what load tests made (one run's, with a label), in an order that can be deleted."""
    campaigns = Campaign.objects.filter(is_load_test=True)
    lists = ContactList.objects.filter(is_load_test=True)
    contacts = Contact.objects.filter(is_load_test=True)
    keys = ApiKey.objects.filter(is_load_test=True)
    if label is not None:
        if not LoadTestRun.objects.filter(label=label).exists():
            raise LoadTestError(f"No load test run is labelled {label!r}.")
        # Every address of the run carries its label (`success+<label>-<n>@…`, see _labelled).
        campaigns, lists = campaigns.filter(name=run_name(label)), lists.filter(name=run_name(label))
        contacts, keys = contacts.filter(email__contains=f"{label}-"), keys.filter(name=run_name(label))
    steps = CampaignStep.objects.filter(campaign__in=campaigns)
    messages = TransactionalMessage.objects.filter(Q(api_key__in=keys) | Q(contact__in=contacts))
    # Each condition reads one indexed column of the ledger: no join, no scan of a million rows.
    ledger = StepExecution.objects.filter(
        Q(step__in=steps) | Q(message__in=messages) | Q(contact__in=contacts)
    )
    # The ledger first: its rows point at everything else.
    return {
        "ledger_rows": ledger,
        "messages": messages,
        "steps": steps,
        "campaigns": campaigns,
        "lists": lists,
        "contacts": contacts,
    }


def loadtest_data_delete(*, label: str | None = None, dry_run: bool = False) -> dict[str, int]:
    """Delete what load tests made, or one run's (label): ledger rows, transactional messages of
    load-test keys, campaigns with their steps, lists and contacts; return how many of each.

    The runs themselves stay, as history. Deletion goes in batches, each committed: stopped
    halfway, it leaves load-test data only, and running it again finishes the job.
    """
    data = _loadtest_data(label=label)
    counts = {kind: rows.count() for kind, rows in data.items()}
    if not dry_run:
        for rows in data.values():
            _delete_in_batches(rows)
    return counts


def _delete_in_batches(rows: QuerySet) -> None:
    while batch := list(rows.values_list("pk", flat=True)[:CLEANUP_BATCH]):
        if rows.model is Contact:
            # As any deletion of contacts: an address that unsubscribed stays so (a real person's
            # address a load-test key happened to create is still theirs).
            with transaction.atomic():
                contacts_delete(
                    contacts=Contact.objects.filter(pk__in=batch), source=Suppression.Source.ADMIN
                )
        else:
            rows.model.objects.filter(pk__in=batch).delete()
