"""Errors of tracking, within Campanile's one exception tree."""

from core.exceptions import CampanileError


class SnsRefused(CampanileError):
    """An SNS delivery was refused; `status` is the HTTP answer it gets."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


class SnsMalformed(SnsRefused):
    """The delivery is not a well-formed SNS message (400, or 413 when too large)."""


class SnsUntrusted(SnsRefused):
    """The delivery failed a trust check: topic, clock, certificate URL or signature (403)."""

    status = 403


class SnsCertificateUnavailable(SnsRefused):
    """AWS's signing certificate could not be fetched now (503: SNS retries later)."""

    status = 503
