"""Delivery errors, in the one tree rooted at core.exceptions.CampanileError."""

from core.exceptions import CampanileError


class SesError(CampanileError):
    """SES refused or could not take a message."""


class SesRetryLater(SesError):
    """Nothing was sent and the same message may be tried again later (throttling, no connection)."""


class SesRejected(SesError):
    """SES refused this message for good (bad address, unverified identity); never retried."""


class SesOutcomeUnknown(SesError):
    """The request may have reached SES; the message must not be re-sent automatically."""


class SesQuotaExhausted(SesRetryLater):
    """SES's 24-hour sending quota is used up: nothing more goes out until the window allows."""


class SesSendingHalted(SesRetryLater):
    """SES stopped all sending for the account or its configuration set: a human must act."""


class TooManyLinks(CampanileError):
    """An email holds more distinct web links than one email may have tracked (TRACKING_MAX_LINKS)."""


class SenderInvalid(CampanileError):
    """A stored sender is not one valid mailbox, or its configuration set no SES name: not built."""


class SuppressedRecipient(CampanileError):
    """An address on the suppression list was asked for: nothing is sent to it, not even a test."""


class PixelNotCarried(CampanileError):
    """An email of a step that measures opens would carry no open pixel that loads: not sent, as
    it would count among the emails the open rate is over (campaigns.selectors.steps_showing_pixel)."""
