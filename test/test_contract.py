"""The stand-in app's own OpenAPI document agrees with the spec the client is generated from.

Descriptions are left out: the spec's were written for the client docs, and the
stand-in's come from its handler docstrings. Everything a generated client
depends on is compared: paths, methods, operation ids, tags, summaries,
parameters, request and response schemas, security and component schemas.
"""

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from litepolis_client.testing import create_app

SPEC_PATH = Path(__file__).parent.parent / "openapi.json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})

SPEC = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
APP_SPEC = create_app().openapi()


def operations_by_id(document: dict[str, Any]) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Return each operation of an OpenAPI document as (path, method, operation) by operationId."""
    operations = {}
    for path, path_item in document["paths"].items():
        for method, operation in path_item.items():
            if method in HTTP_METHODS:
                operations[operation["operationId"]] = (path, method, operation)
    return operations


SPEC_OPERATIONS = operations_by_id(SPEC)
APP_OPERATIONS = operations_by_id(APP_SPEC)


def schema_name(schema: Optional[dict[str, Any]]) -> Optional[str]:
    """Return the component name a schema refers to, or None for an inline schema."""
    if not schema or "$ref" not in schema:
        return None
    return schema["$ref"].rpartition("/")[2]


def parameter_summary(operation: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (
            parameter["name"],
            parameter["in"],
            parameter.get("required", False),
            parameter["schema"].get("type"),
            parameter["schema"].get("default"),
        )
        for parameter in operation.get("parameters", [])
    ]


def request_body_summary(operation: dict[str, Any]) -> Optional[tuple[Any, ...]]:
    body = operation.get("requestBody")
    if body is None:
        return None
    schemas = {
        media_type: schema_name(content.get("schema"))
        for media_type, content in body["content"].items()
    }
    return (schemas, body.get("required", False))


def response_summary(operation: dict[str, Any]) -> dict[str, dict[str, Optional[str]]]:
    """Return, per status code, the component name of each media type's schema."""
    return {
        status: {
            media_type: schema_name(content.get("schema"))
            for media_type, content in response.get("content", {}).items()
        }
        for status, response in operation["responses"].items()
    }


def strip_descriptions(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: strip_descriptions(item) for key, item in value.items() if key != "description"
        }
    if isinstance(value, list):
        return [strip_descriptions(item) for item in value]
    return value


def test_spec_has_19_operations_on_13_paths():
    assert len(SPEC["paths"]) == 13
    assert len(SPEC_OPERATIONS) == 19


def test_paths_match():
    assert set(APP_SPEC["paths"]) == set(SPEC["paths"])


@pytest.mark.parametrize("path", sorted(SPEC["paths"]))
def test_methods_per_path_match(path):
    app_methods = set(APP_SPEC["paths"].get(path, {})) & HTTP_METHODS

    assert app_methods == set(SPEC["paths"][path]) & HTTP_METHODS


def test_operation_ids_match():
    assert set(APP_OPERATIONS) == set(SPEC_OPERATIONS)


@pytest.mark.parametrize("operation_id", sorted(SPEC_OPERATIONS))
class TestOperation:
    def app_and_spec(self, operation_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        spec_path, spec_method, spec_operation = SPEC_OPERATIONS[operation_id]
        app_path, app_method, app_operation = APP_OPERATIONS[operation_id]
        assert (app_path, app_method) == (spec_path, spec_method)
        return app_operation, spec_operation

    def test_tags(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert app_operation.get("tags", []) == spec_operation.get("tags", [])

    def test_summary(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert app_operation.get("summary") == spec_operation.get("summary")

    def test_parameters(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert parameter_summary(app_operation) == parameter_summary(spec_operation)

    def test_parameter_schemas(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        app_schemas = [parameter["schema"] for parameter in app_operation.get("parameters", [])]
        spec_schemas = [parameter["schema"] for parameter in spec_operation.get("parameters", [])]
        assert app_schemas == spec_schemas

    def test_request_body(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert request_body_summary(app_operation) == request_body_summary(spec_operation)

    def test_responses(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert response_summary(app_operation) == response_summary(spec_operation)

    def test_response_schemas(self, operation_id):
        # Inline schemas too: an operation that returns null has the empty
        # schema {} in both documents.
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert strip_descriptions(app_operation["responses"]) == strip_descriptions(
            spec_operation["responses"]
        )

    def test_security(self, operation_id):
        app_operation, spec_operation = self.app_and_spec(operation_id)

        assert app_operation.get("security") == spec_operation.get("security")


def test_component_schema_names_match():
    assert set(APP_SPEC["components"]["schemas"]) == set(SPEC["components"]["schemas"])


@pytest.mark.parametrize("name", sorted(SPEC["components"]["schemas"]))
def test_component_schema_matches(name):
    app_schema = APP_SPEC["components"]["schemas"].get(name)
    # Vendor extensions are hints for the generator, not part of the contract.
    spec_schema = {key: value for key, value in SPEC["components"]["schemas"][name].items() if not key.startswith("x-")}

    assert app_schema == spec_schema


def test_security_schemes_match():
    assert APP_SPEC["components"]["securitySchemes"] == SPEC["components"]["securitySchemes"]


def test_info_title_and_version_match():
    app_info = (APP_SPEC["info"]["title"], APP_SPEC["info"]["version"])

    assert app_info == (SPEC["info"]["title"], SPEC["info"]["version"])
