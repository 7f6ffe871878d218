"""The one exception tree of Campanile: every error raised on purpose derives from CampanileError."""


class CampanileError(Exception):
    """Root of every error Campanile raises on purpose."""


class InvalidTransition(CampanileError):
    """A campaign was asked to move to a status its current status does not allow."""


class CampaignNotReady(CampanileError):
    """A campaign lacks what it needs to be scheduled (steps, audience, sender)."""


class TemplateRenderError(CampanileError):
    """A template failed to compile or to render for one contact."""


class ObjectNotFound(CampanileError):
    """Something a request names (a template, a contact) does not exist."""


class IdempotencyConflict(CampanileError):
    """An idempotency code was reused with a different request."""
