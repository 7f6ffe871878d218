"""The SES mailbox simulator: what happens to a message, and the SES event records that say so.

Outcomes follow https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html
(the simulator's addresses, labels after `+` allowed); the records follow the event publishing
format, https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html.
Any other address is delivered, as a well-behaved mailbox would be.
"""

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parseaddr

SIMULATOR_DOMAIN = "simulator.amazonses.com"

DELIVERED, BOUNCED, COMPLAINED, AUTO_REPLY, ON_SUPPRESSION_LIST = (
    "delivered",
    "bounced",
    "complained",
    "auto_reply",
    "on_suppression_list",
)
_SIMULATED = {
    "success": DELIVERED,
    "bounce": BOUNCED,
    "complaint": COMPLAINED,
    "ooto": AUTO_REPLY,
    "suppressionlist": ON_SUPPRESSION_LIST,
}
SUPPRESSION_LIST_DIAGNOSTIC = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your account."
)


def outcome_for(address: str, *, account_suppressed: bool = False) -> str:
    """Return what the simulator does with mail to an address."""
    if account_suppressed:
        return ON_SUPPRESSION_LIST
    local, _, domain = address.lower().rpartition("@")
    if domain != SIMULATOR_DOMAIN:
        return DELIVERED
    return _SIMULATED.get(local.split("+", 1)[0], DELIVERED)


def message_id_new() -> str:
    """Return a MessageId shaped like SES's: a hex time prefix, a UUID and a zero suffix."""
    return f"{int(datetime.now(UTC).timestamp() * 1000):016x}-{uuid.uuid4()}-000000"


def tags_parse(header: str) -> dict[str, str]:
    """Parse X-SES-MESSAGE-TAGS ("name=value, name=value")."""
    pairs = (part.strip().split("=", 1) for part in header.split(",") if "=" in part)
    return {name.strip(): value.strip() for name, value in pairs}


@dataclass
class Accepted:
    """One message SES took, with what an event record needs to describe it."""

    message_id: str
    source: str
    destinations: list[str]
    subject: str
    configuration_set: str
    tags: dict[str, str]
    accepted_at: datetime
    headers: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, message: Message, *, source: str, destinations: list[str]) -> "Accepted":
        """Describe a parsed raw message as SES would, dropping the X-SES headers SES strips."""
        headers = [
            {"name": name, "value": str(value)}
            for name, value in message.items()
            if not name.lower().startswith("x-ses-")
        ]
        return cls(
            message_id=message_id_new(),
            source=source or message.get("From", ""),
            destinations=destinations
            or [address for _name, address in getaddresses(message.get_all("To", []))],
            subject=str(message.get("Subject", "")),
            configuration_set=str(message.get("X-SES-CONFIGURATION-SET", "")).strip(),
            tags=tags_parse(str(message.get("X-SES-MESSAGE-TAGS", ""))),
            accepted_at=datetime.now(UTC),
            headers=headers,
        )

    def mail_object(self, *, account_id: str, region: str) -> dict:
        """Return the record's `mail` object, tags as SES lists them (each value in a list)."""
        sender = parseaddr(self.source)[1]
        tags = {
            "ses:source-ip": ["127.0.0.1"],
            "ses:from-domain": [sender.rpartition("@")[2]],
            "ses:caller-identity": ["ses-standin"],
            **{name: [value] for name, value in self.tags.items()},
        }
        if self.configuration_set:
            tags["ses:configuration-set"] = [self.configuration_set]
        return {
            "timestamp": timestamp(self.accepted_at),
            "source": self.source,
            "sourceArn": f"arn:aws:ses:{region}:{account_id}:identity/{sender.rpartition('@')[2]}",
            "sendingAccountId": account_id,
            "messageId": self.message_id,
            "destination": self.destinations,
            "headersTruncated": False,
            "headers": self.headers,
            "commonHeaders": {
                "from": [self.source],
                "to": self.destinations,
                "messageId": self.message_id,
                "subject": self.subject,
            },
            "tags": tags,
        }


def timestamp(moment: datetime) -> str:
    """Format a time as SES and SNS do: ISO 8601, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_records(
    accepted: Accepted, *, recipient: str, outcome: str, mail: dict
) -> list[tuple[float, dict]]:
    """Return the event records one recipient's outcome produces, each with its delay in seconds.

    Send comes at once; a delivery a second or two later; a complaint a few seconds after the
    delivery, as the simulator's feedback loop does.
    """
    jitter = random.Random(f"{accepted.message_id}:{recipient}")  # noqa: S311 - a simulation
    records: list[tuple[float, dict]] = [(0.1, {"eventType": "Send", "mail": mail, "send": {}})]
    at = accepted.accepted_at
    if outcome in (DELIVERED, AUTO_REPLY, COMPLAINED):
        delay = jitter.uniform(0.5, 2.0)
        delivery = {
            "timestamp": timestamp(at),
            "processingTimeMillis": int(delay * 1000),
            "recipients": [recipient],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        }
        records.append((delay, {"eventType": "Delivery", "mail": mail, "delivery": delivery}))
        if outcome == COMPLAINED:
            complaint = {
                "complainedRecipients": [{"emailAddress": recipient}],
                "timestamp": timestamp(at),
                "feedbackId": message_id_new(),
                "complaintFeedbackType": "abuse",
                "arrivalDate": timestamp(at),
            }
            records.append(
                (
                    delay + jitter.uniform(1.0, 4.0),
                    {"eventType": "Complaint", "mail": mail, "complaint": complaint},
                )
            )
    elif outcome in (BOUNCED, ON_SUPPRESSION_LIST):
        suppressed = outcome == ON_SUPPRESSION_LIST
        bounce = {
            "bounceType": "Permanent",
            "bounceSubType": "OnAccountSuppressionList" if suppressed else "General",
            "bouncedRecipients": [
                {
                    "emailAddress": recipient,
                    "action": "failed",
                    "status": "5.1.1",
                    "diagnosticCode": SUPPRESSION_LIST_DIAGNOSTIC
                    if suppressed
                    else "smtp; 550 5.1.1 user unknown",
                }
            ],
            "timestamp": timestamp(at),
            "feedbackId": message_id_new(),
            **({} if suppressed else {"reportingMTA": "dsn; a8-70.smtp-out.amazonses.com"}),
        }
        records.append((jitter.uniform(0.5, 2.0), {"eventType": "Bounce", "mail": mail, "bounce": bounce}))
    return records
