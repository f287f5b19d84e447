"""Property tests: arbitrary JSON, text and bytes reach every model and the client.

Only the documented errors may come out, and an accepted document survives a round trip.
"""

import functools
import inspect
import json
import re
import typing
from collections.abc import Callable, Iterator
from typing import Any

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from recording import RecordingServer, Reply

from litepolis_client import (
    ApiClient,
    APIKeysApi,
    ApiValueError,
    Configuration,
    ConversationsApi,
    InvalidResponseError,
    RenewalOutcomeUnknownError,
    ResponseMessage,
    RetryPolicy,
    UserApi,
    UserProfile,
    ValidationError,
    models,
)

CALLER_KEY = "5e0c1b7a-2f4d-4c8e-9a6b-3d2e1f0a9b8c"

# The composed schemas are typing.Union aliases, not classes, so the models
# that contain them cover them.
UNION_ALIASES = ["Detail", "Detail1", "Detail2", "LocationInner"]
MODEL_CLASSES = sorted(
    (cls for _, cls in inspect.getmembers(models, inspect.isclass) if issubclass(cls, pydantic.BaseModel)),
    key=lambda cls: cls.__name__,
)
MODEL_IDS = [cls.__name__ for cls in MODEL_CLASSES]

# The function-scoped fixture that every test gets from conftest.py only
# clears environment variables, so it need not run again per example.
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


# Strategies. Floats exclude NaN and infinities, and hypothesis's text() never
# generates lone surrogates. The xfail tests at the end pin what the models do with those.

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)


def json_containers(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)


json_values = st.recursive(json_scalars, json_containers, max_leaves=12)


def values_for(annotation: Any) -> st.SearchStrategy:
    """Return a strategy for JSON values that fit a model field's annotation."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if annotation is Any:
        return json_values
    if origin is typing.Annotated:
        # StrictInt, StrictStr and StrictBool are Annotated[<type>, Strict()].
        return values_for(arguments[0])
    if origin is typing.Union:
        return st.one_of([values_for(argument) for argument in arguments])
    if origin is list:
        return st.lists(values_for(arguments[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), values_for(arguments[1]), max_size=3)
    if annotation is type(None):
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers()
    if annotation is str:
        return st.text()
    if inspect.isclass(annotation) and issubclass(annotation, pydantic.BaseModel):
        return shaped_dicts(annotation, wrong_types=False)
    raise TypeError(f"no strategy for the annotation {annotation!r}")


def shaped_dicts(model: type[pydantic.BaseModel], *, wrong_types: bool) -> st.SearchStrategy:
    """Return dicts keyed like `model`, with fitting values or, if `wrong_types`, any JSON values."""
    required = {}
    optional = {}
    for name, field in model.model_fields.items():
        values = values_for(field.annotation)
        if wrong_types:
            values = values | json_values
        key = field.alias or name
        if field.is_required():
            required[key] = values
        else:
            optional[key] = values
    complete = st.fixed_dictionaries(required, optional=optional)
    if not wrong_types:
        return complete
    # Also leave out required fields.
    return complete | st.fixed_dictionaries({}, optional={**required, **optional})


def to_json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def valid_documents(model: type[pydantic.BaseModel]) -> st.SearchStrategy:
    return shaped_dicts(model, wrong_types=False).map(to_json_text)


def documents(model: type[pydantic.BaseModel]) -> st.SearchStrategy:
    """Return JSON texts, their UTF-8 bytes, raw text and raw bytes, some of them shaped like `model`."""
    json_texts = st.one_of(
        json_values.map(to_json_text),
        shaped_dicts(model, wrong_types=True).map(to_json_text),
        valid_documents(model),
    )
    return st.one_of(
        json_texts,
        json_texts.map(lambda text: text.encode("utf-8")),
        st.text(),
        st.binary(),
    )


def decoded_objects(model: type[pydantic.BaseModel]) -> st.SearchStrategy:
    """Return what a JSON decoder can give: any value, and dicts shaped like `model`."""
    return st.one_of(
        json_values,
        shaped_dicts(model, wrong_types=True),
        shaped_dicts(model, wrong_types=False),
    )


# The model list.


def test_model_list_has_every_class():
    assert MODEL_IDS == [
        "CommentModel",
        "CommentResponse",
        "CommentResponseMessage",
        "ConversationModel",
        "ConversationResponse",
        "ConversationResponseMessage",
        "HTTPValidationError",
        "ResponseMessage",
        "UserProfile",
        "UserResponseMessage",
        "ValidationError",
    ]


@pytest.mark.parametrize("name", UNION_ALIASES)
def test_union_alias_not_class(name):
    alias = getattr(models, name)

    assert not inspect.isclass(alias)
    assert typing.get_origin(alias) is typing.Union


# from_json and from_dict.


@pytest.mark.parametrize("model", MODEL_CLASSES, ids=MODEL_IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_from_json_rejects_or_round_trips(model, data):
    # Non-str values too: from_json must reject them with ApiValueError.
    document = data.draw(st.one_of(valid_documents(model), documents(model), json_values), label="document")
    try:
        parsed = model.from_json(document)
    except ApiValueError:
        return

    again = model.from_json(parsed.to_json())

    assert type(parsed) is model
    assert again == parsed
    assert again.to_json() == parsed.to_json()


@pytest.mark.parametrize("model", MODEL_CLASSES, ids=MODEL_IDS)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_from_dict_rejects_or_round_trips(model, data):
    obj = data.draw(decoded_objects(model), label="obj")
    try:
        parsed = model.from_dict(obj)
    except ApiValueError:
        return
    if obj is None:
        assert parsed is None
        return

    again = model.from_dict(parsed.to_dict())

    assert type(parsed) is model
    assert again == parsed
    assert again.to_dict() == parsed.to_dict()
    # A request body is sent as to_json(), so that must work too.
    assert model.from_json(parsed.to_json()) == parsed


# Through the client.


@pytest.fixture(scope="module")
def body_server() -> Iterator[RecordingServer]:
    """A server that responds to every request with 200 and the body of its ``reply``, which the tests set."""
    with RecordingServer(Reply(body=b"")) as server:
        yield server


def configure(server: RecordingServer) -> Configuration:
    return Configuration(
        host=server.url,
        api_key={"APIKeyHeader": CALLER_KEY},
        retry=RetryPolicy(max_attempts=1),
    )


@pytest.fixture(scope="module")
def client(body_server) -> Iterator[ApiClient]:
    with ApiClient(configure(body_server)) as client:
        yield client


# Operations whose 200 response is a ResponseMessage and that leave the caller's key alone.
READ_CALLS: dict[str, Callable[[ApiClient], ResponseMessage]] = {
    "get_testroute": lambda client: UserApi(client).get_testroute_api_v1_secure_get(),
    "get_userprofile": lambda client: UserApi(client).get_userprofile_api_v1_secure_users_profile_get(),
    "get_userrole": lambda client: UserApi(client).get_userrole_api_v1_secure_users_role_get(),
    "get_userauth": lambda client: UserApi(client).get_userauth_api_v1_secure_users_auth_post(
        UserProfile(email="ada@example.org", password="correct horse")
    ),
    "get_conversation": (
        lambda client: ConversationsApi(client).get_conversation_api_v1_secure_conversations_cid_get(cid=3)
    ),
}


def to_bytes(document: Any) -> bytes:
    return document if isinstance(document, bytes) else document.encode("utf-8")


response_bodies = documents(ResponseMessage).map(to_bytes)


def parse_or_none(body: bytes) -> Any:
    try:
        return ResponseMessage.from_json(body)
    except ApiValueError:
        return None


@PROPERTY_SETTINGS
@given(body=response_bodies, operation=st.sampled_from(sorted(READ_CALLS)))
def test_client_raises_only_invalid_response(body_server, client, body, operation):
    body_server.reply = Reply(body=body)
    expected = parse_or_none(body)

    try:
        result = READ_CALLS[operation](client)
    except InvalidResponseError:
        # The client rejects exactly the bodies that from_json rejects.
        assert expected is None
        return

    assert result == expected


@pytest.fixture(scope="module")
def renewal_client(body_server) -> Iterator[ApiClient]:
    """A client of its own, because each renewal replaces its key with the one in the response."""
    with ApiClient(configure(body_server)) as client:
        yield client


UUID_KEY = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def is_usable_key(detail: Any) -> bool:
    """Tell whether `detail` is what the client accepts as a renewed key: a UUID string."""
    return isinstance(detail, str) and UUID_KEY.fullmatch(detail) is not None


@PROPERTY_SETTINGS
@given(body=response_bodies)
def test_renewal_raises_only_outcome_unknown(body_server, renewal_client, body):
    body_server.reply = Reply(body=body)
    renewal_client.configuration.api_key["APIKeyHeader"] = CALLER_KEY
    expected = parse_or_none(body)

    try:
        result = APIKeysApi(renewal_client).update_usertoken_api_v1_secure_users_renew_put()
    except RenewalOutcomeUnknownError as exc:
        assert isinstance(exc.__cause__, InvalidResponseError)
        # Only a body without a usable new key in detail makes the outcome unknown.
        assert expected is None or not is_usable_key(expected.detail)
        return

    assert result == expected


# Values that the strategies leave out, each found to break a rule above.


@pytest.mark.parametrize(
    "profile",
    [
        pytest.param(UserProfile(email="\ud800@example.org", password="correct horse"), id="model"),
        pytest.param({"email": "\ud800@example.org", "password": "correct horse"}, id="dict"),
    ],
)
def test_request_surrogate_raises_value_error(client, profile):
    with pytest.raises(ApiValueError):
        UserApi(client).update_userprofile_api_v1_secure_users_profile_put(profile)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(json.loads('{"detail": "\\ud800"}'), id="value"),
        pytest.param({"detail": "x", "\ud800": 1}, id="key"),
        pytest.param({"detail": "x", "extra": ("\ud800",)}, id="in-tuple"),
    ],
)
def test_dict_surrogate_rejected(document):
    with pytest.raises(ApiValueError, match="lone surrogate"):
        ResponseMessage.from_dict(document)


@pytest.mark.parametrize(
    ("digits", "accepted"),
    [pytest.param(4300, True, id="4300"), pytest.param(4301, False, id="4301")],
)
def test_dict_integer_length_matches_json(digits, accepted):
    document = '{"detail": "x", "status_code": 1' + "0" * (digits - 1) + "}"
    # json.loads() stops at Python's own limit of 4300 digits, so the dict
    # is built with arithmetic.
    decoded = {"detail": "x", "status_code": 10 ** (digits - 1)}

    json_accepted = _accepts(lambda: ResponseMessage.from_json(document))
    dict_accepted = _accepts(lambda: ResponseMessage.from_dict(decoded))

    assert json_accepted is accepted
    assert dict_accepted is accepted


def test_dict_deep_tuple_rejected():
    nested = functools.reduce(lambda inner, _: (inner,), range(300), 0)

    with pytest.raises(ApiValueError, match="nests deeper"):
        ResponseMessage.from_dict({"detail": "x", "extra": nested})


def test_dict_shared_lists_walked_once():
    # Each level contains the level below twice: 2**24 paths, 24 lists.
    shared = functools.reduce(lambda inner, _: [inner, inner], range(24), ["x"])

    response = ResponseMessage.from_dict({"detail": "x", "extra": shared})

    assert response.detail == "x"


def _accepts(parse) -> bool:
    try:
        parse()
    except ApiValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("depth", "inner"),
    [(depth, inner) for depth in (199, 200, 201, 300) for inner in ("", "1")],
)
def test_dict_depth_limit_matches_json(depth, inner):
    # from_dict() accepts exactly the nesting that from_json() accepts, and
    # what it accepts, to_json() can write back.
    document = '{"loc": ["body"], "msg": "m", "type": "t", "input": ' + "[" * depth + inner + "]" * depth + "}"

    try:
        from_json = ValidationError.from_json(document)
    except ApiValueError:
        from_json = None
    try:
        from_dict = ValidationError.from_dict(json.loads(document))
    except ApiValueError:
        from_dict = None

    assert (from_json is None) == (from_dict is None)
    if from_dict is not None:
        assert ValidationError.from_json(from_dict.to_json()) == from_dict


def same_number(left: Any, right: Any) -> bool:
    # NaN never equals itself, so two NaNs count as the same value here.
    if isinstance(left, float) and isinstance(right, float) and left != left and right != right:
        return True
    return left == right


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_number_round_trips(literal):
    document = '{"loc": ["body"], "msg": "m", "type": "t", "input": %s}' % literal
    try:
        parsed = ValidationError.from_json(document)
    except ApiValueError:
        return

    again = ValidationError.from_json(parsed.to_json())

    assert same_number(again.input, parsed.input)
