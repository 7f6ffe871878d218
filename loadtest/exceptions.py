"""Load test errors, in the one tree rooted at core.exceptions.CampanileError."""

from core.exceptions import CampanileError


class LoadTestError(CampanileError):
    """A load test cannot start or run as asked."""
