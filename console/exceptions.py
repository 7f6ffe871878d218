"""The console's errors, in Campanile's one exception tree."""

from core.exceptions import CampanileError


class SecondFactorRefused(CampanileError):
    """A second-factor code was wrong, already used, or came too soon after wrong ones."""
