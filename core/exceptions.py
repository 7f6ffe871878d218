"""The root of Campanile's one exception tree: every error raised on purpose derives from it.

Each app declares its own errors beside its code (campaigns/exceptions.py, delivery/exceptions.py,
tracking/exceptions.py), all subclasses of CampanileError.
"""


class CampanileError(Exception):
    """Root of every error Campanile raises on purpose."""


class ObjectNotFound(CampanileError):
    """Something a request names (a template, a contact) does not exist: the API answers 404."""
