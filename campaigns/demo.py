"""Demo data: two lists at the SES mailbox simulator, templates with links, and campaigns due now.

With the local SES stand-in (`make run`) every address behaves as the simulator says — delivered,
bounced, complained, on the suppression list — and simulated readers open and click, so the
reports fill within a minute. The newsletter's list is a healthy one (1% hard bounces, one
complaint late in the send, below the reputation guard's limits); the win-back list is an old
export whose bounces make the guard pause that campaign, two minutes after the newsletter began.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from campaigns import services
from campaigns.consent import contact_unsubscribe
from campaigns.models import (
    Campaign,
    CampaignStep,
    Contact,
    ContactList,
    ListMembership,
    SignupForm,
    Suppression,
    Template,
)
from campaigns.suppressions import suppression_add

SIMULATOR = "simulator.amazonses.com"
FIRST_NAMES = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Linus", "Radia", "Donald"]
CITIES = ["Lisbon", "Oslo", "Austin", "Kyoto", "Nairobi", "Lyon", "Toronto", "Pune"]
NEWSLETTER_SIZE = 1300
#: One in a hundred addresses bounces and a few are on SES's suppression list: a healthy list.
NEWSLETTER_MIX = {"bounce": 100, "suppressionlist": 190, "ooto": 75}
#: The last address complains: one complaint in 1,300 sent stays under the guard's 0.08%, and the
#: guard judges it only once everything before it was sent, however fast the machine.
NEWSLETTER_COMPLAINT_AT = NEWSLETTER_SIZE
WINBACK_SIZE = 300
#: An old export: one address in eight bounces, and the guard pauses the campaign.
WINBACK_BOUNCE_EVERY = 8
WINBACK_DELAY = timedelta(minutes=2)
#: The template the AWS load-testing sample and loadtest/artillery.yml name.
SAMPLE_TEMPLATE = "SimpleEmail"

NEWSLETTER_HTML = """<html><body style="font-family:sans-serif">
<h1>Hello {{ contact.first_name|default:"there" }}!</h1>
<p>Spring is here in {{ attributes.city|default:"your city" }}, and so is our new
<a href="https://campanile.example/features?utm_source=newsletter">scheduling feature</a>.</p>
<p>You are on the {{ attributes.plan|default:"free" }} plan.
<a href="https://campanile.example/pricing?utm_source=newsletter">Compare plans</a> or
<a href="https://campanile.example/blog/spring?utm_source=newsletter">read the spring notes</a>.</p>
<p style="font-size:12px;color:#666">You get this because you subscribed to our newsletter.
<a href="{{ unsubscribe_url }}">Unsubscribe</a>.</p>
</body></html>"""

WINBACK_HTML = """<html><body style="font-family:sans-serif">
<p>Hi {{ contact.first_name|default:"there" }}, it has been a while.</p>
<p><a href="https://campanile.example/welcome-back?utm_source=winback">Come back for 30% off</a>.</p>
<p style="font-size:12px;color:#666"><a href="{{ unsubscribe_url }}">Unsubscribe</a>.</p>
</body></html>"""

SAMPLE_HTML = """<html><body>
<p>Hello {{ contact.first_name|default:"there" }}, this is a transactional email from Campanile.</p>
<p><a href="https://campanile.example/account">Your account</a></p>
</body></html>"""


def _newsletter_address(i: int) -> str:
    """Return the newsletter's i-th address (1-based): mostly deliveries, the mix spread evenly."""
    if i == NEWSLETTER_COMPLAINT_AT:
        return f"complaint+news{i}@{SIMULATOR}"
    for kind, every in NEWSLETTER_MIX.items():
        if i % every == 0:
            return f"{kind}+news{i}@{SIMULATOR}"
    return f"success+news{i}@{SIMULATOR}"


def _winback_address(i: int) -> str:
    kind = "bounce" if i % WINBACK_BOUNCE_EVERY == 0 else "success"
    return f"{kind}+winback{i}@{SIMULATOR}"


def _audience(name: str, description: str, addresses: list[str]) -> ContactList:
    """Create (or reuse) a list and its contacts, inserted in order so they are mailed in order."""
    contact_list, _ = ContactList.objects.get_or_create(name=name, defaults={"description": description})
    Contact.objects.bulk_create(
        [
            Contact(
                email=email,
                first_name=FIRST_NAMES[i % len(FIRST_NAMES)],
                last_name="Demo",
                external_id=email.split("@")[0].split("+")[1],
                attributes={"plan": "pro" if i % 3 == 0 else "free", "city": CITIES[i % len(CITIES)]},
            )
            for i, email in enumerate(addresses)
        ],
        ignore_conflicts=True,
    )
    contacts = Contact.objects.filter(email__in=addresses).values_list("pk", flat=True)
    ListMembership.objects.bulk_create(
        [ListMembership(contact_list=contact_list, contact_id=pk) for pk in contacts], ignore_conflicts=True
    )
    return contact_list


def _template(name: str, subject: str, html: str) -> Template:
    return Template.objects.get_or_create(name=name, defaults={"subject": subject, "html_body": html})[0]


def _campaign(name: str, audience: ContactList, template: Template, *, at) -> Campaign:
    campaign = Campaign.objects.create(name=name, from_email=settings.DEFAULT_FROM_EMAIL, scheduled_at=at)
    campaign.lists.add(audience)
    CampaignStep.objects.create(campaign=campaign, order=1, template=template)
    return services.campaign_schedule(campaign=campaign)


def _signup_form(newsletter: ContactList) -> None:
    """Make the newsletter's double opt-in form (/f/newsletter), once; its confirmation email is
    the one the migrations made, as long as it is still there."""
    confirmation = Template.objects.filter(name="signup-confirmation").first()
    if confirmation is None or SignupForm.objects.filter(slug="newsletter").exists():
        return
    form = SignupForm.objects.create(
        name="Newsletter signup",
        slug="newsletter",
        title="Our monthly newsletter",
        intro="Spring offers, new products and the odd recipe, once a month.",
        consent_text="Yes, send me the newsletter. I can leave at any time.",
        from_email=settings.DEFAULT_FROM_EMAIL,
        confirmation_template=confirmation,
    )
    form.lists.add(newsletter)


@transaction.atomic
def demo_load() -> list[Campaign]:
    """Create (or reuse) the demo audience and templates, and schedule the demo campaigns.

    The newsletter is scheduled on every call (a new one each `make run`); the win-back campaign
    only once. Return the campaigns scheduled.
    """
    now = timezone.now()
    newsletter = _audience(
        "Newsletter",
        "Subscribers of the monthly newsletter (SES mailbox simulator addresses).",
        [_newsletter_address(i) for i in range(1, NEWSLETTER_SIZE + 1)],
    )
    # Two contacts the fan-out must leave out: one unsubscribed, one on the suppression list.
    unsubscribed, _ = Contact.objects.get_or_create(
        email=f"success+unsubscribed@{SIMULATOR}", defaults={"first_name": "Una", "external_id": "demo-unsub"}
    )
    contact_unsubscribe(contact=unsubscribed)
    suppressed, _ = Contact.objects.get_or_create(
        email=f"success+suppressed@{SIMULATOR}",
        defaults={"first_name": "Sue", "external_id": "demo-suppressed"},
    )
    suppression_add(
        email=suppressed.email,
        reason=Suppression.Reason.MANUAL,
        source=Suppression.Source.ADMIN,
        detail="Demo",
    )
    for contact in (unsubscribed, suppressed):
        ListMembership.objects.get_or_create(contact_list=newsletter, contact=contact)
    _template(SAMPLE_TEMPLATE, "Your Campanile message", SAMPLE_HTML)
    news = _template(
        "demo-welcome", 'Spring news for you, {{ contact.first_name|default:"friend" }}', NEWSLETTER_HTML
    )
    _signup_form(newsletter)
    scheduled = [
        _campaign(f"Spring newsletter {timezone.localtime(now):%Y-%m-%d %H:%M:%S}", newsletter, news, at=now)
    ]
    if not Campaign.objects.filter(name="Win-back: old customers").exists():
        winback = _audience(
            "Old customers (2019 export)",
            "An old export that was never cleaned: many addresses no longer exist.",
            [_winback_address(i) for i in range(1, WINBACK_SIZE + 1)],
        )
        offer = _template(
            "demo-winback", "We miss you, {{ contact.first_name|default:'friend' }}", WINBACK_HTML
        )
        scheduled.append(_campaign("Win-back: old customers", winback, offer, at=now + WINBACK_DELAY))
    return scheduled
