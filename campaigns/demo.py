"""Demo data: an audience at the SES mailbox simulator, a template and a campaign due now."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignStep,
    Contact,
    ContactList,
    ListMembership,
    Suppression,
    Template,
)

SIMULATOR = "simulator.amazonses.com"
# Mostly deliveries, with the bounces and complaints a real list produces, so reports have shape.
DEMO_MIX = [("success", 40), ("bounce", 5), ("complaint", 4)]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Donald"]

DEMO_HTML = """<html><body>
<h1>Hello {{ contact.first_name|default:"there" }}!</h1>
<p>This is Campanile's demo campaign, rendered for {{ contact.email }}
on the {{ attributes.plan|default:"free" }} plan.</p>
</body></html>"""


@transaction.atomic
def demo_load() -> Campaign:
    """Create (or reuse) the demo audience and template, and schedule a new demo campaign for now."""
    demo_list, _ = ContactList.objects.get_or_create(
        name="Demo list", defaults={"description": "SES mailbox simulator addresses."}
    )
    n = 0
    for kind, count in DEMO_MIX:
        for i in range(1, count + 1):
            contact, _ = Contact.objects.get_or_create(
                email=f"{kind}+demo{i}@{SIMULATOR}",
                defaults={
                    "first_name": FIRST_NAMES[n % len(FIRST_NAMES)],
                    "last_name": "Demo",
                    "external_id": f"demo-{kind}-{i}",
                    "attributes": {"plan": "pro" if i % 3 == 0 else "free"},
                },
            )
            ListMembership.objects.get_or_create(contact_list=demo_list, contact=contact)
            n += 1
    # Two contacts the fan-out must leave out: one unsubscribed, one on the suppression list.
    unsubscribed, _ = Contact.objects.get_or_create(
        email=f"success+unsubscribed@{SIMULATOR}", defaults={"first_name": "Una", "external_id": "demo-unsub"}
    )
    services.contact_unsubscribe(contact=unsubscribed)
    suppressed, _ = Contact.objects.get_or_create(
        email=f"suppressionlist@{SIMULATOR}", defaults={"first_name": "Sue", "external_id": "demo-suppressed"}
    )
    services.suppression_add(
        email=suppressed.email,
        reason=Suppression.Reason.MANUAL,
        source=Suppression.Source.ADMIN,
        detail="Demo",
    )
    for contact in (unsubscribed, suppressed):
        ListMembership.objects.get_or_create(contact_list=demo_list, contact=contact)

    template, _ = Template.objects.get_or_create(
        name="demo-welcome",
        defaults={"subject": 'Welcome, {{ contact.first_name|default:"friend" }}', "html_body": DEMO_HTML},
    )
    campaign = Campaign.objects.create(
        name=f"Demo campaign {timezone.localtime():%Y-%m-%d %H:%M:%S}",
        from_email=settings.DEFAULT_FROM_EMAIL,
        scheduled_at=timezone.now(),
    )
    campaign.lists.add(demo_list)
    CampaignStep.objects.create(campaign=campaign, order=1, template=template)
    return services.campaign_schedule(campaign=campaign)
