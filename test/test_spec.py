"""Checks on openapi.json, the spec that the client is generated from."""

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

import litepolis_client

SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def spec():
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_spec_is_valid_openapi(spec):
    validate(spec)


def test_spec_info(spec):
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] == "LitePolis API"
    assert spec["info"]["version"]
    assert spec["info"]["description"]


def test_spec_has_all_operations(spec):
    assert len(spec["paths"]) == 13
    assert len(list(operations(spec))) == 19


def test_every_operation_described(spec):
    undescribed = [
        operation["operationId"]
        for _, _, operation in operations(spec)
        if not operation.get("description", "").strip()
    ]

    assert undescribed == []


def test_secure_operations_need_api_key(spec):
    for path, method, operation in operations(spec):
        expected = [{"APIKeyHeader": []}] if path.startswith("/api/v1/secure/") else None

        assert operation.get("security") == expected, f"{method.upper()} {path}"


def test_security_scheme_is_header_key(spec):
    scheme = spec["components"]["securitySchemes"]["APIKeyHeader"]

    assert scheme == {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_renewal_keeps_both_tags(spec):
    renewal = spec["paths"]["/api/v1/secure/users/renew"]["put"]

    assert renewal["operationId"] == "update_usertoken_api_v1_secure_users_renew_put"
    assert renewal["tags"] == ["User", "API Keys"]


def test_client_has_method_per_operation(spec):
    api_classes = {
        "API Keys": litepolis_client.APIKeysApi,
        "User": litepolis_client.UserApi,
        "Conversations": litepolis_client.ConversationsApi,
        "Comments": litepolis_client.CommentsApi,
        None: litepolis_client.DefaultApi,
    }
    methods = set()
    for _, _, operation in operations(spec):
        # The generator turns an operationId into snake_case, which folds
        # FastAPI's runs of underscores into one.
        name = re.sub("_+", "_", operation["operationId"])
        for tag in operation.get("tags", [None]):
            assert callable(getattr(api_classes[tag], name, None)), f"{tag}: {name}"
            methods.add((tag, name))

    assert len(methods) == 20


def test_only_request_bodies_reject_unknown_fields(spec):
    # A regenerated spec from the server loses this mark: every schema that
    # is only sent needs it again, so that misspelt fields raise.
    request_schemas = set()
    for _, _, operation in operations(spec):
        reference = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
        if "$ref" in reference:
            request_schemas.add(reference["$ref"].rsplit("/", 1)[-1])
    marked = {name for name, schema in spec["components"]["schemas"].items() if schema.get("x-reject-unknown-fields")}

    assert request_schemas == {"UserProfile", "ConversationModel", "CommentModel"}
    assert marked == request_schemas
