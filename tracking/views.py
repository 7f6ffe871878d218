"""Public views reached from links in our emails; no login, no cookies."""

import base64
import json
import logging

from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from core.html_text import url_percent_encode, url_strip
from core.http import client_address, database_unavailable
from delivery import tokens
from tracking import hits, inbox, metrics, sns
from tracking.exceptions import SnsMalformed, SnsRefused
from tracking.models import TrackingHit

logger = logging.getLogger(__name__)


@csrf_exempt  # SNS signs its messages; it has no CSRF token to send.
@require_http_methods(["POST"])
def ses_webhook(request: HttpRequest) -> HttpResponse:
    """Take an SNS delivery: verify, store durably, answer; the apply tick applies it afterwards.

    SNS retries 5xx answers, never 4xx: a refused certificate download or a database outage
    answers 503 so the message comes again; bad or untrusted input answers 4xx.
    """
    headers = {name.lower(): value for name, value in request.headers.items()}
    try:
        try:
            body = request.body
        except RequestDataTooBig:
            # Over Django's own limit: the same 413 as a body over ours.
            raise SnsMalformed(f"The body is over {sns.MAX_BODY_BYTES} bytes.", status=413) from None
        envelope = sns.sns_verify(body=body, headers=headers)
    except SnsRefused as exc:
        logger.warning("SNS delivery refused (%s): %s", exc.status, exc)
        metrics.SNS_REFUSED.inc(status=str(exc.status))
        return HttpResponse(str(exc), status=exc.status, content_type="text/plain; charset=utf-8")
    if envelope.type == sns.UNSUBSCRIBE_CONFIRMATION:
        # Someone unsubscribed our endpoint: events stop arriving. A person must look; it is
        # never re-subscribed automatically.
        logger.critical(
            "SNS unsubscribed this webhook from %s: SES events no longer arrive.", envelope.topic_arn
        )
        return HttpResponse("Noted.", content_type="text/plain; charset=utf-8")
    if envelope.type == sns.SUBSCRIPTION_CONFIRMATION:
        try:
            inbox.sns_subscription_confirm(envelope=envelope)
        except (BotoCoreError, ClientError) as exc:
            logger.error("Could not confirm the SNS subscription to %s: %s", envelope.topic_arn, exc)
            return HttpResponse(
                "Could not confirm now.", status=503, content_type="text/plain; charset=utf-8"
            )
        return HttpResponse("Confirmed.", content_type="text/plain; charset=utf-8")
    try:
        record = json.loads(envelope.message)
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        logger.warning(
            "SNS message %s from %s is not an SES event record.", envelope.message_id, envelope.topic_arn
        )
        return HttpResponse(
            "Message is not a JSON object.", status=400, content_type="text/plain; charset=utf-8"
        )
    try:
        created = inbox.sns_message_store(envelope=envelope)
    except DatabaseError:
        logger.exception("SNS message %s could not be stored; SNS will retry.", envelope.message_id)
        return HttpResponse("Not stored; retry.", status=503, content_type="text/plain; charset=utf-8")
    return HttpResponse("Stored." if created else "Already stored.", content_type="text/plain; charset=utf-8")


# The smallest transparent GIF: 43 bytes.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


def _hit(request: HttpRequest, *, kind: str, tracking_id, link_id=None) -> None:
    hits.hit_record(
        kind=kind,
        tracking_id=tracking_id,
        link_id=link_id,
        method=request.method or "",  # Always set on a request the server made.
        user_agent=request.headers.get("User-Agent", ""),
        ip=client_address(request),
    )


# Read-only links: no form posts to them, so no CSRF check, and another method is a 405, not a 403.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request: HttpRequest, token: str) -> HttpResponse:
    """Answer the pixel, always (a broken image would show); record the open when the token is ours."""
    tracking_id = tokens.step_execution_token_read(token=token, purpose=tokens.OPEN)
    if tracking_id is not None:
        _hit(request, kind=TrackingHit.Kind.OPEN, tracking_id=tracking_id)
    return HttpResponse(PIXEL_GIF, content_type="image/gif")


@csrf_exempt
@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request: HttpRequest, token: str) -> HttpResponse:
    """Redirect to the link the email held; a tampered or unknown token is a 404, never a redirect.

    The target comes from the signed token's link id only: nothing in the request (such as an
    appended ?url=) can choose it.
    """
    found = tokens.click_token_read(token)
    try:
        target = hits.link_target(found[1]) if found else None
    except DatabaseError:
        # Only the database knows where a link this process has not served yet leads.
        logger.exception("A click could not be resolved: the database is unavailable.")
        return database_unavailable()
    if found is None or target is None:
        raise Http404("This link is not valid.")
    # The answer first: a target Django will not redirect to (recorded before the tracker left such
    # links alone) is refused before a click is counted for it.
    # As a browser reads it (a backslash in a link stored before the tracker read it so leads
    # where the email's own link led, never to another host through Django's %5C).
    target = url_strip(target)
    answer = HttpResponseRedirect(target)  # Its checks (scheme, length) read the stored target.
    # Django writes the Location by RFC 3987, encoding what a browser keeps (`{ } | ^` in a query,
    # a fragment's `|`): a page reading its own address (`location.hash`) would read other text
    # than the email's link gives it. Encoded only where a browser encodes it; no CR or LF is left.
    answer["Location"] = url_percent_encode(target)
    _hit(request, kind=TrackingHit.Kind.CLICK, tracking_id=found[0], link_id=found[1])
    return answer
