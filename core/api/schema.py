"""The OpenAPI schema's operations, each with the API key scope it needs."""

from drf_spectacular.openapi import AutoSchema

from core.api.scopes import view_scope


class ScopedAutoSchema(AutoSchema):
    """drf-spectacular's schema, with each operation's scope: `x-required-scope` and a line of text."""

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
        return operation
