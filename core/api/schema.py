"""The OpenAPI schema's operations, each with the API key scope it needs and the errors it answers."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent

from core.api.answers import WRITER_ANSWER_NOTE, WriterAnswerMixin
from core.api.scopes import view_scope

#: The one shape of every error answer (core.api.errors.api_exception_handler writes it).
ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer", "description": "The HTTP status, repeated."},
                "code": {
                    "type": "string",
                    "description": "What went wrong, for programs (`invalid`, `not_found`, `conflict`, "
                    "`throttled`, `unavailable`, …); it never changes with the language.",
                },
                "message": {"type": "string", "description": "What went wrong, for people."},
                "fields": {
                    "type": "object",
                    "additionalProperties": {},
                    "description": "With `invalid` (400): each field's messages.",
                },
                "scope": {"type": "string", "description": "With 403: the scope the key lacks."},
            },
            "required": ["status", "code", "message"],
        }
    },
    "required": ["error"],
}

#: Each error an operation may answer, and when it says so.
_ERRORS = {
    "400": "The request is invalid: `fields` says where.",
    "401": "No API key, or one unknown, revoked or expired.",
    "403": "The key lacks the scope this operation needs (`scope` names it).",
    "404": "No such object, or one this key may not see; or a tampered page cursor.",
    "409": "The object's state conflicts with the request (a campaign past draft, a template in use).",
    "413": "The request body is too large.",
    "429": "Too many requests for this key: wait as `Retry-After` says.",
    "503": "A service the API relies on is down: retry after `Retry-After`.",
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ScopedAutoSchema(AutoSchema):
    """drf-spectacular's schema, with each operation's scope (`x-required-scope` and a line of text),
    what a write answers a key that may not read (core.api.answers), and the error answers it may
    give, each in the one error format."""

    def get_operation(self, *args, **kwargs):
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        scope = view_scope(self.view, self.method)
        if scope is not None:
            operation["x-required-scope"] = scope
            note = f"Needs an API key with the scope `{scope}`."
            description = operation.get("description", "")
            operation["description"] = f"{description}\n\n{note}" if description else note
        if isinstance(self.view, WriterAnswerMixin) and self.view.writer_answer_applies(
            getattr(self.view, "action", None), self.method
        ):
            operation["description"] = f"{operation.get('description', '')}\n\n{WRITER_ANSWER_NOTE}".lstrip()
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA
        )
        self.registry.register_on_missing(component)
        for code in self._error_codes(operation, keyed=bool(operation.get("security")), scoped=bool(scope)):
            operation["responses"].setdefault(
                code,
                {"description": _ERRORS[code], "content": {"application/json": {"schema": component.ref}}},
            )
        return operation

    def _error_codes(self, operation: dict, *, keyed: bool, scoped: bool) -> list[str]:
        """Return the errors this operation may answer, by what it takes and whom it needs."""
        queries = [p for p in operation.get("parameters", []) if p.get("in") == "query"]
        asks = bool(queries) or "requestBody" in operation
        codes = ["400"] if asks or self.method in _WRITES else []
        if keyed:
            codes += ["401", "403"] if scoped else ["401"]
        if "{" in self.path or any(p.get("name") == "cursor" for p in queries):
            codes.append("404")
        if self.method in _WRITES:
            codes.append("409")
        if "requestBody" in operation:
            codes.append("413")
        if keyed:
            codes += ["429", "503"]
        return codes
