"""The SES API that boto3 calls, answered locally: v1's query actions and SESv2's REST calls.

Served: SendRawEmail, GetSendQuota, VerifyDomainIdentity, VerifyEmailIdentity, ListIdentities and
GetIdentityVerificationAttributes (v1, https://docs.aws.amazon.com/ses/latest/APIReference/);
GetAccount, ListSuppressedDestinations, PutSuppressedDestination and DeleteSuppressedDestination
(v2); and the stand-in's own `GET /_standin/stats`. Errors have SES's shapes, so botocore raises
what it would raise against AWS.
"""

import argparse
import base64
import json
import logging
import random
import threading
import time
import uuid
from datetime import datetime
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from ses_standin import mailbox
from ses_standin.readers import Readers
from ses_standin.sns import Publisher

logger = logging.getLogger("ses_standin")

NAMESPACE = "http://ses.amazonaws.com/doc/2010-12-01/"
SUPPRESSION_PATH = "/v2/email/suppression/addresses"
CONFIGURATION_SETS_PATH = "/v2/email/configuration-sets/"


class State:
    """What the stand-in keeps: identities, the account's suppression list, counts, and its log."""

    def __init__(self, options: argparse.Namespace, *, publisher: Publisher | None, readers: Readers | None):
        self.options, self.publisher, self.readers = options, publisher, readers
        self.lock = threading.Lock()
        self.folder = Path(options.state) if options.state else None
        self.identities: set[str] = set(self._load("identities.json", []))
        self.suppressed: dict[str, dict] = self._load("suppressed.json", {})
        self.totals = {"accepted": 0, "throttled": 0, "rejected": 0}
        self.campaigns: dict[str, dict[str, int]] = {}
        #: Faults switched on at run time (POST /_standin/faults): until when sends hang, how long
        #: each hangs, until when they answer an HTML 500, and how many hung calls so far.
        self.hang_until = self.errors_until = 0.0
        self.hang_seconds = 0.0
        self.hung = 0
        self.log = open(options.log, "a") if options.log else None  # noqa: SIM115 - open for the server's life

    def _load(self, name: str, default):
        path = self.folder / name if self.folder else None
        return json.loads(path.read_text()) if path and path.exists() else default

    def save(self, name: str, value) -> None:
        """Keep a piece of state across restarts (identities verified, addresses suppressed)."""
        if self.folder:
            path = self.folder / name
            path.with_suffix(".tmp").write_text(json.dumps(value))
            path.with_suffix(".tmp").replace(path)

    def record(self, line: dict) -> None:
        """Append a line to the log before the caller answers, so counts survive a crash of the sender."""
        if self.log:
            self.log.write(json.dumps(line) + "\n")
            self.log.flush()

    def count(self, campaign: str, name: str, n: int = 1) -> None:
        counts = self.campaigns.setdefault(campaign, {})
        counts[name] = counts.get(name, 0) + n

    def stats(self) -> dict:
        """Return every count: messages, outcomes and readers per campaign tag, and events posted."""
        with self.lock:
            campaigns = {name: dict(counts) for name, counts in self.campaigns.items()}
            totals = dict(self.totals)
        if self.readers:
            with self.readers.lock:
                for name, counts in self.readers.counts.items():
                    campaigns.setdefault(name, {}).update(counts)
        events = dict(self.publisher.counts) if self.publisher else {}
        return {
            **totals,
            "campaigns": campaigns,
            "events": events,
            "pending": self.options.schedule.pending(),
        }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK, 40 ms on Linux loopback, which a benchmark would count as SES latency.
    disable_nagle_algorithm = True
    state: State

    # --- routing ---------------------------------------------------------------------------------

    def do_GET(self):
        path, query = self._path()
        if path == "/_standin/stats":
            self._json(200, self.state.stats())
        elif path == "/v2/email/account":
            self._json(
                200, {"SendQuota": self._quota(), "SendingEnabled": True, "ProductionAccessEnabled": True}
            )
        elif path == SUPPRESSION_PATH:
            self._suppressions_list(query)
        elif path.startswith(CONFIGURATION_SETS_PATH) and path.endswith("/event-destinations"):
            self._json(200, {"EventDestinations": self._event_destinations()})
        else:
            self._json(404, {"message": f"{path} is not served by the stand-in."})

    def do_PUT(self):
        path, _query = self._path()
        if path != SUPPRESSION_PATH:
            self._json(404, {"message": f"{path} is not served by the stand-in."})
            return
        item = json.loads(self._body() or b"{}")
        with self.state.lock:
            self.state.suppressed[item["EmailAddress"].lower()] = {
                "Reason": item.get("Reason", "BOUNCE"),
                "At": time.time(),
            }
            self.state.save("suppressed.json", self.state.suppressed)
        self._json(200, {})

    def do_DELETE(self):
        path, _query = self._path()
        if not path.startswith(SUPPRESSION_PATH + "/"):
            self._json(404, {"message": f"{path} is not served by the stand-in."})
            return
        email = unquote(path.removeprefix(SUPPRESSION_PATH + "/")).lower()
        with self.state.lock:
            found = self.state.suppressed.pop(email, None)
            if found is not None:
                self.state.save("suppressed.json", self.state.suppressed)
        if found is None:
            # SES's answer for an address not on the list, which botocore raises as NotFoundException.
            self._json(
                404, {"__type": "NotFoundException", "message": f"{email} is not on the suppression list."}
            )
            return
        self._json(200, {})

    def do_POST(self):
        if self._path()[0] == "/_standin/faults":
            self._faults(json.loads(self._body() or b"{}"))
            return
        form = {name: values[0] for name, values in parse_qs(self._body().decode()).items()}
        arrived = time.time()  # What SES's own rate counting sees.
        action = form.get("Action", "")
        time.sleep(self.state.options.latency_ms / 1000)
        if action == "SendRawEmail":
            self._send_raw_email(form, arrived)
        elif action == "GetSendQuota":
            quota = "".join(f"<{name}>{value}</{name}>" for name, value in self._quota().items())
            self._xml(200, self._response(action, f"<GetSendQuotaResult>{quota}</GetSendQuotaResult>"))
        elif action in ("VerifyDomainIdentity", "VerifyEmailIdentity"):
            identity = (form.get("Domain") or form.get("EmailAddress") or "").lower()
            with self.state.lock:
                self.state.identities.add(identity)
                self.state.save("identities.json", sorted(self.state.identities))
            token = f"<VerificationToken>{uuid.uuid4().hex}</VerificationToken>" if "Domain" in form else ""
            self._xml(200, self._response(action, f"<{action}Result>{token}</{action}Result>"))
        elif action == "GetIdentityVerificationAttributes":
            asked = [value for name, value in sorted(form.items()) if name.startswith("Identities.member.")]
            with self.state.lock:
                known = [identity for identity in asked if identity.lower() in self.state.identities]
            entries = "".join(
                f"<entry><key>{escape(identity)}</key><value><VerificationStatus>Success</VerificationStatus>"
                "</value></entry>"
                for identity in known
            )
            self._xml(
                200,
                self._response(
                    action,
                    f"<{action}Result><VerificationAttributes>{entries}</VerificationAttributes></{action}Result>",
                ),
            )
        elif action == "ListIdentities":
            members = "".join(f"<member>{escape(name)}</member>" for name in sorted(self.state.identities))
            self._xml(
                200,
                self._response(
                    action, f"<{action}Result><Identities>{members}</Identities></{action}Result>"
                ),
            )
        else:
            self._xml(400, self._error("InvalidAction", f"{action!r} is not served by the stand-in."))

    # --- SendRawEmail ------------------------------------------------------------------------------

    def _faults(self, asked: dict) -> None:
        """Switch faults on for a while: {"hang": s, "hang_seconds": s, "errors": s}, from now."""
        now = time.time()
        with self.state.lock:
            if "hang" in asked:
                self.state.hang_until = now + float(asked["hang"])
                self.state.hang_seconds = float(asked.get("hang_seconds", 5.0))
            if "errors" in asked:
                self.state.errors_until = now + float(asked["errors"])
        self._json(200, {"hang_until": self.state.hang_until, "errors_until": self.state.errors_until})

    def _send_raw_email(self, form: dict[str, str], arrived: float) -> None:
        state = self.state
        if arrived < state.errors_until:
            # A load balancer's page, not SES's XML: nothing was accepted.
            self._answer(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
            return
        if arrived < state.hang_until:
            with state.lock:
                state.hung += 1
                taken = state.hung % 2 == 0
            # No answer in time either way; every other hung call was taken first (its Send event
            # will say so), the rest never were.
            if not taken:
                time.sleep(state.hang_seconds)
                self._xml(500, self._error("InternalFailure", "Hung, and dropped."))
                return
            self._accept(form, arrived, hang=state.hang_seconds)
            return
        self._accept(form, arrived)

    def _accept(self, form: dict[str, str], arrived: float, hang: float = 0.0) -> None:
        state, options = self.state, self.state.options
        if random.random() < options.throttle:  # noqa: S311 - a simulation
            with state.lock:
                state.totals["throttled"] += 1
                state.record({"throttled": True, "at": arrived})
            self._xml(400, self._error("Throttling", "Maximum sending rate exceeded."))
            return
        message = message_from_bytes(base64.b64decode(form["RawMessage.Data"]))
        destinations = [
            value for name, value in sorted(form.items()) if name.startswith("Destinations.member.")
        ]
        source = form.get("Source", "") or str(message.get("From", ""))
        if options.verify_senders and not self._verified(source):
            with state.lock:
                state.totals["rejected"] += 1
            text = (
                "Email address is not verified. The following identities failed the check in "
                f"region {options.region.upper()}: {source}"
            )
            self._xml(400, self._error("MessageRejected", text))
            return
        accepted = mailbox.Accepted.of(message, source=source, destinations=destinations)
        if options.mail_dir:
            # What a developer would read in the mailbox: a signup's confirmation link, say.
            (Path(options.mail_dir) / f"{accepted.message_id}.eml").write_bytes(message.as_bytes())
        if form.get("ConfigurationSetName"):
            accepted.configuration_set = form["ConfigurationSetName"]
        campaign = accepted.tags.get("campanile_campaign", "")
        with state.lock:
            state.record(
                {
                    "at": arrived,
                    "id": accepted.message_id,
                    "to": message["To"],
                    "tracking": accepted.tags.get("campanile_step_execution"),
                }
            )
            state.totals["accepted"] += 1
            state.count(campaign, "accepted")
            stall = state.totals["accepted"] == options.stall_at
        self._consequences(message, accepted, campaign)
        if stall:
            # Accepted and logged, but the answer never comes in time: SES took the message and
            # the sender cannot know. A chaos test kills the sender now.
            print(f"stalled {accepted.message_id}", flush=True)
            time.sleep(options.stall_seconds)
        time.sleep(hang)
        result = f"<SendRawEmailResult><MessageId>{accepted.message_id}</MessageId></SendRawEmailResult>"
        self._xml(200, self._response("SendRawEmail", result))

    def _verified(self, source: str) -> bool:
        address = source.rpartition("<")[2].rstrip(">").strip().lower()
        return address in self.state.identities or address.rpartition("@")[2] in self.state.identities

    def _consequences(self, message: Message, accepted: mailbox.Accepted, campaign: str) -> None:
        """Schedule each recipient's events and reader, as the simulator and SNS would produce them."""
        state = self.state
        publisher = state.publisher
        if publisher is None or not accepted.configuration_set:
            return  # SES publishes events only for mail sent with a configuration set.
        options = state.options
        mail = accepted.mail_object(account_id=options.account_id, region=options.region)
        for recipient in accepted.destinations:
            address = recipient.rpartition("<")[2].rstrip(">").strip()
            outcome = mailbox.outcome_for(address, account_suppressed=address.lower() in state.suppressed)
            with state.lock:
                state.count(campaign, outcome)
                if outcome in (mailbox.AUTO_REPLY, mailbox.COMPLAINED):
                    state.count(campaign, mailbox.DELIVERED)
            records = mailbox.event_records(accepted, recipient=address, outcome=outcome, mail=mail)
            if recipient != accepted.destinations[0]:
                # One Send event per message, whatever the number of its recipients.
                records = [(delay, record) for delay, record in records if record["eventType"] != "Send"]
            for delay, record in records:
                options.schedule(delay, lambda record=record: publisher.publish(record))
            if state.readers and outcome in (mailbox.DELIVERED, mailbox.AUTO_REPLY, mailbox.COMPLAINED):
                state.readers.delivered(
                    message, message_id=accepted.message_id, recipient=address, campaign=campaign
                )

    def _event_destinations(self) -> list[dict]:
        """Every configuration set publishes what the stand-in posts: its events, Send included, to SNS."""
        options = self.state.options
        if not getattr(options, "events_to", None):
            return []
        types = ["SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY"]
        sns = {"TopicArn": options.topic_arn}
        destination = {"Name": "standin-events", "Enabled": True, "MatchingEventTypes": types}
        return [{**destination, "SnsDestination": sns}]

    # --- SESv2 suppression list -------------------------------------------------------------------

    def _suppressions_list(self, query: dict[str, str]) -> None:
        with self.state.lock:
            items = sorted(self.state.suppressed.items())
        start = _epoch(query.get("StartDate", ""))
        items = [(email, item) for email, item in items if item["At"] >= start]
        offset = int(query.get("NextToken") or 0)
        size = int(query.get("PageSize") or 1000)
        page = items[offset : offset + size]
        body: dict[str, object] = {
            "SuppressedDestinationSummaries": [
                {"EmailAddress": email, "Reason": item["Reason"], "LastUpdateTime": item["At"]}
                for email, item in page
            ]
        }
        if offset + size < len(items):
            body["NextToken"] = str(offset + size)
        self._json(200, body)

    # --- answers -----------------------------------------------------------------------------------

    def _quota(self) -> dict:
        options = self.state.options
        return {
            "Max24HourSend": options.max_24_hour_send,
            "MaxSendRate": options.max_send_rate,
            "SentLast24Hours": float(self.state.totals["accepted"]),
        }

    def _path(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, {name: values[0] for name, values in parse_qs(parts.query).items()}

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", 0)))

    def _response(self, action: str, result: str) -> str:
        metadata = f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
        return f'<{action}Response xmlns="{NAMESPACE}">{result}{metadata}</{action}Response>'

    def _error(self, code: str, text: str) -> str:
        error = f"<Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(text)}</Message></Error>"
        return (
            f'<ErrorResponse xmlns="{NAMESPACE}">{error}<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>'
        )

    def _xml(self, status: int, body: str) -> None:
        self._answer(status, body.encode(), "text/xml")

    def _json(self, status: int, body: dict) -> None:
        self._answer(status, json.dumps(body).encode(), "application/json")

    def _answer(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        if self.state.options.verbose:
            logger.info("%s %s", self.address_string(), format % args)


def _epoch(value: str) -> float:
    """Read a timestamp botocore put in a query string (ISO 8601, or seconds); 0 when absent."""
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
