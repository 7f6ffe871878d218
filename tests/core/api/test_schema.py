"""The OpenAPI schema tells each operation's error answers, in the one error format."""

from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from core.api.schema import ERROR_SCHEMA


def _operations() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method.upper()): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }


def test_each_operation_lists_the_errors_it_may_answer_in_the_error_format():
    operations = _operations()

    create = operations[("/api/v1/contacts/", "POST")]["responses"]
    fetch = operations[("/api/v1/contacts/{id}/", "GET")]["responses"]
    listing = operations[("/api/v1/contacts/", "GET")]["responses"]

    assert set(create) == {"201", "400", "401", "403", "409", "413", "429", "503"}
    assert set(fetch) == {"200", "401", "403", "404", "429", "503"}
    assert {"400", "404"} <= set(listing)  # Filters, and a tampered cursor.
    assert create["403"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_an_error_the_api_answers_has_the_shape_the_schema_describes():
    import jsonschema

    answered = APIClient().get("/api/v1/contacts").json()

    jsonschema.validate(answered, ERROR_SCHEMA)
    assert answered["error"]["code"] == "not_authenticated"
