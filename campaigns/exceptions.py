"""Errors of the audience, templates and campaigns, in the one tree rooted at CampanileError."""

from typing import Any

from core.exceptions import CampanileError


class InvalidTransition(CampanileError):
    """A campaign was asked to move to a status its current status does not allow."""


class CampaignNotReady(CampanileError):
    """A campaign lacks what it needs to be scheduled (steps, audience, sender)."""


class TemplateRenderError(CampanileError):
    """A template failed to compile or to render for one contact."""


class IdempotencyConflict(CampanileError):
    """An idempotency code was reused with a different request."""


class TemplateLimitExceeded(TemplateRenderError):
    """A template asked for more output or rendering time than one email may take."""


class TemplateHtmlRefused(TemplateRenderError):
    """A template's HTML could carry no open pixel that loads; `code` says why (rendering's words)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code if not detail else f"{code}: {detail}")
        self.code, self.detail = code, detail


class AddressErased(CampanileError):
    """An address erased at its owner's request was to be added again (campaigns.erasure)."""


class ResubscribeRefused(CampanileError):
    """A contact who unsubscribed was to be subscribed again without the explicit flag and a reason."""

    #: The API's error code for it (core.api.errors).
    api_code = "resubscribe_refused"


class ErasedNotResubscribed(ResubscribeRefused):
    """A contact at an erased address was to be subscribed: its refusal names nothing stored of them,
    so every caller gets it as it is."""


class ReasonMissing(CampanileError):
    """A change of consent that needs a reason (a suppression removed) was asked for without one."""

    #: The API's error code for it (core.api.errors).
    api_code = "reason_missing"


class SuppressedSinceRemoval(CampanileError):
    """A suppression removal came again after the address was suppressed anew (a bounce or complaint
    after the first lifted one): a retry must not lift what the first never saw."""

    #: The API's error code for it (core.api.errors).
    api_code = "suppressed_since_removal"

    def __init__(self, message: str, *, suppression_reason: str, suppressed_at, removed_at) -> None:
        super().__init__(message)
        #: What the address is suppressed for now and since when, and when the removal repeated was.
        self.facts: dict[str, Any] = {
            "suppression_reason": suppression_reason,
            "suppressed_at": suppressed_at,
            "removed_at": removed_at,
        }


class SandboxBusy(CampanileError):
    """Every child of a sandbox stayed busy while a job waited for one."""


class ImportFileUnreadable(CampanileError):
    """An uploaded contact file is not a CSV or XLSX file that can be read, or is too large."""


class SegmentInUse(CampanileError):
    """A segment an unfinished campaign mails was to be deleted: the campaign's audience would change."""


class NamedBySegment(CampanileError):
    """A list or a campaign a segment's rules name was to be deleted: the segment would silently
    mean something else (a "not on this list" rule would match everyone)."""


class ImportNotStartable(CampanileError):
    """A contact import cannot start: already started, or its mapping or options are incomplete."""
