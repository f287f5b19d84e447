"""Round trips through every generated model, one case per `anyOf` variant."""

import functools
import json
import traceback
import warnings

import pytest

from litepolis_client import (
    ApiValueError,
    CommentModel,
    CommentResponse,
    CommentResponseMessage,
    ConversationModel,
    ConversationResponse,
    ConversationResponseMessage,
    HTTPValidationError,
    ResponseMessage,
    UserProfile,
    UserResponseMessage,
    ValidationError,
)

KEY = "0b9f7c3e-5d1a-4e8b-9c2f-6a7d8e9f0a1b"
USER = {"id": 7, "email": "ada@example.org", "role": "user"}
CONVERSATION = {
    "id": 3,
    "title": "Bike lanes",
    "description": "Where should the city add bike lanes?",
    "creator_id": 7,
    "moderation": None,
}
COMMENT = {
    "id": 11,
    "create_date": "2024-08-25T10:00:00",
    "comment": "Along the river.",
    "user_id": 7,
    "conversation_id": 3,
    "moderated": False,
    "approved": False,
}
VALIDATION_ERROR = {
    "loc": ["body", "email"],
    "msg": "value is not a valid email address",
    "type": "value_error",
}

# (model, JSON payload): each payload is what a LitePolis server sends, so a
# round trip must give it back unchanged.
CASES = [
    pytest.param(UserResponseMessage, USER, id="user"),
    pytest.param(ConversationResponseMessage, CONVERSATION, id="conversation"),
    pytest.param(CommentResponseMessage, COMMENT, id="comment"),
    pytest.param(
        ResponseMessage,
        {"detail": KEY, "error": None, "message": "New API Key", "status_code": 200},
        id="response-detail-str",
    ),
    pytest.param(
        ResponseMessage,
        {"detail": USER, "error": None, "message": "User information", "status_code": 200},
        id="response-detail-user",
    ),
    pytest.param(
        ResponseMessage,
        {"detail": CONVERSATION, "error": None, "message": None, "status_code": 200},
        id="response-detail-conversation",
    ),
    pytest.param(
        ResponseMessage,
        {"detail": COMMENT, "error": None, "message": None, "status_code": 200},
        id="response-detail-comment",
    ),
    pytest.param(
        ConversationResponse,
        {"detail": [CONVERSATION], "error": None, "message": None, "status_code": 200},
        id="conversations-detail-list",
    ),
    pytest.param(
        ConversationResponse,
        {"detail": "No conversations", "error": "No conversations", "message": None, "status_code": 400},
        id="conversations-detail-str",
    ),
    pytest.param(
        CommentResponse,
        {"detail": [COMMENT], "error": None, "message": "m", "status_code": 200},
        id="comments-detail-list",
    ),
    pytest.param(
        CommentResponse,
        {"detail": [], "error": None, "message": "m", "status_code": 200},
        id="comments-detail-empty-list",
    ),
    pytest.param(
        CommentResponse,
        {"detail": "Moderation is off", "error": "Moderation is off", "message": None, "status_code": 400},
        id="comments-detail-str",
    ),
    pytest.param(UserProfile, {"email": "ada@example.org", "password": "secret"}, id="profile"),
    pytest.param(ConversationModel, {"id": 3, "title": "t", "description": "d"}, id="conversation-model"),
    pytest.param(
        CommentModel,
        {"comment_id": 11, "comment": "c", "user_id": 7, "conversation_id": 3, "task": "approve", "vote": 1},
        id="comment-model",
    ),
    pytest.param(ValidationError, VALIDATION_ERROR, id="validation-error"),
    pytest.param(
        ValidationError,
        {**VALIDATION_ERROR, "loc": ["body", 0], "input": {"email": "x"}, "ctx": {"reason": "r"}},
        id="validation-error-int-loc-input-ctx",
    ),
    pytest.param(HTTPValidationError, {"detail": [VALIDATION_ERROR]}, id="http-validation-error"),
]


@pytest.mark.parametrize(("model", "payload"), CASES)
def test_json_round_trip(model, payload):
    instance = model.from_json(json.dumps(payload))

    assert isinstance(instance, model)
    assert json.loads(instance.to_json()) == payload


@pytest.mark.parametrize(("model", "payload"), CASES)
def test_dict_round_trip(model, payload):
    instance = model.from_dict(payload)

    assert isinstance(instance, model)
    assert instance.to_dict() == payload
    assert model.from_dict(instance.to_dict()) == instance


@pytest.mark.parametrize(("model", "payload"), CASES)
def test_to_dict_is_plain_json(model, payload):
    # json.dumps raises TypeError if to_dict() leaves a model object inside.
    document = json.dumps(model.from_dict(payload).to_dict())

    assert json.loads(document) == payload


@pytest.mark.parametrize(
    ("payload", "expected_type"),
    [
        pytest.param(KEY, str, id="str"),
        pytest.param(USER, UserResponseMessage, id="user"),
        pytest.param(CONVERSATION, ConversationResponseMessage, id="conversation"),
        pytest.param(COMMENT, CommentResponseMessage, id="comment"),
    ],
)
def test_response_detail_is_plain_value(payload, expected_type):
    response = ResponseMessage.from_dict({"detail": payload})

    assert type(response.detail) is expected_type
    assert response.status_code == 200


def test_renewal_detail_equals_key():
    response = ResponseMessage.from_json(
        json.dumps({"detail": KEY, "error": None, "message": "New API Key", "status_code": 200})
    )

    assert response.detail == KEY


def test_comment_list_items_are_models():
    response = CommentResponse.from_dict({"detail": [COMMENT]})

    assert isinstance(response.detail, list)
    assert len(response.detail) == 1
    assert isinstance(response.detail[0], CommentResponseMessage)
    assert response.detail[0].create_date == COMMENT["create_date"]


def test_defaults_apply_but_stay_unset():
    response = ResponseMessage.from_dict({"detail": "OK"})

    assert response.status_code == 200
    assert response.to_dict() == {"detail": "OK"}


def test_request_model_sends_only_set_fields():
    body = ConversationModel(title="Bike lanes", description="Where?")

    assert body.to_dict() == {"title": "Bike lanes", "description": "Where?"}


def test_response_without_detail_rejected():
    with pytest.raises(ApiValueError) as excinfo:
        ResponseMessage.from_dict({"message": "m"})

    assert "detail: Field required" in str(excinfo.value)


def test_invalid_json_rejected_without_echo():
    with pytest.raises(ApiValueError) as excinfo:
        ResponseMessage.from_json('{"detail": "' + KEY)

    assert "JSON parser rejected the data (EOF while parsing" in str(excinfo.value)
    assert KEY not in str(excinfo.value)


def test_wrong_type_rejected_without_echo():
    with pytest.raises(ApiValueError) as excinfo:
        ResponseMessage.from_dict({"detail": KEY, "status_code": KEY})

    assert "status_code" in str(excinfo.value)
    assert KEY not in str(excinfo.value)
    assert KEY not in str(excinfo.value.__cause__)


@pytest.mark.parametrize(
    ("model", "document"),
    [
        pytest.param(ResponseMessage, {"detail": b"key"}, id="bytes-for-str"),
        pytest.param(ResponseMessage, {"detail": bytearray(b"key")}, id="bytearray-for-str"),
        pytest.param(CommentResponse, {"detail": b"key"}, id="bytes-for-comment-detail"),
        pytest.param(ValidationError, {"loc": [True], "msg": "m", "type": "t"}, id="bool-for-int"),
        pytest.param(ValidationError, {"loc": [1.0], "msg": "m", "type": "t"}, id="float-for-int"),
    ],
)
def test_union_members_are_strict(model, document):
    with pytest.raises(ApiValueError):
        model.from_dict(document)


def test_union_bool_in_json_rejected():
    with pytest.raises(ApiValueError):
        ValidationError.from_json('{"loc": [true], "msg": "m", "type": "t"}')


def test_unknown_fields_kept():
    document = '{"detail":"OK","added_later":{"a":[1,2]}}'

    response = ResponseMessage.from_json(document)

    assert response.to_json() == document
    assert response.to_dict()["added_later"] == {"a": [1, 2]}


def test_document_of_two_members_loses_nothing():
    detail = {**USER, "title": "t", "description": "d", "creator_id": 7}

    response = ResponseMessage.from_dict({"detail": detail})

    assert response.to_dict() == {"detail": detail}


def test_constructor_rejects_bad_value():
    with pytest.raises(ApiValueError) as excinfo:
        UserProfile(email="ada@example.org", password=12345)

    assert "password" in str(excinfo.value)
    assert "12345" not in str(excinfo.value)


def test_assignment_rejects_bad_value():
    response = ResponseMessage.from_dict({"detail": KEY})

    with pytest.raises(ApiValueError) as excinfo:
        response.status_code = KEY

    assert "status_code" in str(excinfo.value)
    assert KEY not in str(excinfo.value)
    assert response.status_code == 200


def test_parsing_skips_python_init():
    # A custom __init__ would put a Python call into every response parsed.
    assert ResponseMessage.__pydantic_custom_init__ is False


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(object(), id="object"),
        pytest.param(b"\xff", id="bytes-not-utf8"),
    ],
)
def test_unwritable_value_rejected(value):
    error = ValidationError.from_dict({"loc": ["body"], "msg": "m", "type": "t", "input": value})

    with pytest.raises(ApiValueError, match="cannot write ValidationError as JSON: input contains a value"):
        error.to_json()
    with pytest.raises(ApiValueError, match="cannot write ValidationError as JSON: input contains a value"):
        error.to_dict()


def test_unwritable_unknown_field_named():
    response = ResponseMessage.from_dict({"detail": "OK", "added_later": object()})

    with pytest.raises(ApiValueError, match="added_later contains a value"):
        response.to_json()


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        pytest.param("[" * 300 + "]" * 300, "recursion limit exceeded", id="deep"),
        pytest.param('{"detail": 1' + "0" * 5000 + "}", "number out of range", id="long-number"),
    ],
)
def test_json_parser_reason_named(document, reason):
    with pytest.raises(ApiValueError) as excinfo:
        ResponseMessage.from_json(document)

    assert reason in str(excinfo.value)


def test_to_str_keeps_line_breaks():
    response = ResponseMessage.from_dict({"detail": "x" * 50, "message": "line\nbreak " + "y" * 50})

    text = response.to_str()

    assert text.count("\n") == 1
    assert "'line?break " in text


def test_request_model_rejects_misspelt_field():
    with pytest.raises(ApiValueError) as excinfo:
        CommentModel(comment="Along the river.", conversationid=3)

    assert "conversationid" in str(excinfo.value)


def test_unknown_field_readable_as_attribute():
    response = ResponseMessage.from_json('{"detail":"OK","added_later":5}')

    assert response.added_later == 5
    assert response.model_extra == {"added_later": 5}


PASSWORD = "correct-horse-battery"


def test_to_str_hides_nested_secret():
    error = HTTPValidationError(detail=[ValidationError(loc=["body"], msg="m", type="t", input=PASSWORD)])

    assert PASSWORD not in error.to_str()


def test_repr_hides_secret_in_unknown_field():
    response = CommentResponse(detail="x", user={"password": PASSWORD})

    assert PASSWORD not in repr(response)
    assert PASSWORD not in str(response)
    assert PASSWORD not in response.to_str()


def test_key_in_location_drops_cause():
    with pytest.raises(ApiValueError) as excinfo:
        CommentModel.from_dict({KEY: 1})

    assert KEY not in str(excinfo.value)
    assert excinfo.value.__cause__ is None
    assert KEY not in "".join(traceback.format_exception(excinfo.value))


def test_unvalidated_copy_raises_without_warning():
    copy = ResponseMessage(detail="x").model_copy(update={"message": PASSWORD.encode()})

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ApiValueError, match="message contains a value") as excinfo:
            copy.to_json()

    assert PASSWORD not in "".join(traceback.format_exception(excinfo.value))


def test_key_in_location_leaves_no_context():
    with pytest.raises(ApiValueError) as excinfo:
        UserProfile.from_dict({KEY: 1})

    assert excinfo.value.__context__ is None


def test_unwritable_copy_leaves_no_context():
    copy = UserProfile(email="ada@example.org").model_copy(update={"password": PASSWORD.encode()})

    with pytest.raises(ApiValueError) as excinfo:
        copy.to_json()

    assert excinfo.value.__context__ is None


def test_cause_kept_without_key():
    with pytest.raises(ApiValueError) as excinfo:
        ResponseMessage.from_dict({"detail": "x", "status_code": "200"})

    assert "status_code" in str(excinfo.value.__cause__)


def test_repr_hides_tuple_and_capitalized_secrets():
    response = ResponseMessage(detail="x", a=({"password": PASSWORD},), b={"Password": PASSWORD})

    assert PASSWORD not in repr(response)
    assert PASSWORD not in str(response)
    assert PASSWORD not in response.to_str()


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(10**5000, "cannot be printed", id="long-int"),
        pytest.param(functools.reduce(lambda inner, _: [inner], range(5000), 0), "nested deeper", id="deep-list"),
    ],
)
def test_repr_of_unprintable_value_does_not_raise(value, shown):
    response = ResponseMessage(detail="x", extra=value)

    assert shown in repr(response)
    assert shown in str(response)
