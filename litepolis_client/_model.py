"""The base class of every generated model: validation errors, safe printing and plain JSON."""

from __future__ import annotations

import pprint
from typing import TYPE_CHECKING, Any, Dict, Optional, Union

import pydantic
from typing_extensions import Self

from litepolis_client._exceptions import ApiValueError
from litepolis_client._redact import REDACTED, is_secret_field, printable, redact_json
from litepolis_client._validation import check_decoded_json, describe_serialization_error, validation_failure


class ModelBase(pydantic.BaseModel):
    """A pydantic model whose errors are ApiValueError and whose output hides keys and passwords.

    Generated models add their fields and docstring. A model of a request
    body also sets ``extra="forbid"``, so that a misspelt field raises.
    """

    model_config = pydantic.ConfigDict(
        # Error messages show where and why, never the value: it can be a key.
        hide_input_in_errors=True,
        # NaN and Infinity in an untyped field are written back as read, not as null.
        ser_json_inf_nan="constants",
        populate_by_name=True,
        validate_assignment=True,
        protected_namespaces=(),
        # A field that a newer server adds survives a round trip.
        extra="allow",
    )

    if not TYPE_CHECKING:
        # Bad data raises ApiValueError here too, as in from_dict(). Type
        # checkers keep seeing the keyword arguments that pydantic generates.
        # Each error is raised after its except block, so that it keeps no
        # pydantic error, which can repeat an input, as its context.

        def __init__(self, /, **data: Any) -> None:
            try:
                super().__init__(**data)
                return
            except pydantic.ValidationError as exc:
                failure = validation_failure(type(self), exc)
            raise failure

        # pydantic's marker for an __init__ that only validates: parsing a
        # response skips it and stays in pydantic-core.
        __init__.__pydantic_base_init__ = True

        def __setattr__(self, name: str, value: Any) -> None:
            try:
                super().__setattr__(name, value)
                return
            except pydantic.ValidationError as exc:
                failure = validation_failure(type(self), exc)
            raise failure

    def __repr_args__(self) -> Any:
        # Passwords and echoed input are hidden by field name, also inside
        # the dicts, lists and tuples of untyped and unknown fields.
        for name, value in super().__repr_args__():
            if is_secret_field(name) and value is not None:
                value = REDACTED
            elif isinstance(value, (dict, list, tuple)):
                value = redact_json(value)
            yield name, value

    def __repr__(self) -> str:
        return printable(self, super().__repr__)

    def __str__(self) -> str:
        return printable(self, super().__str__)

    def to_str(self) -> str:
        """Return the fields that were set, pretty-printed, with keys and passwords hidden."""
        return printable(self, lambda: pprint.pformat(redact_json(self.to_dict())), multiline=True)

    # warnings="error": a value that skipped validation, as model_copy(update=...)
    # allows, raises instead of appearing in a warning.

    def to_json(self) -> str:
        """Return the JSON document of the fields that were set."""
        try:
            return self.model_dump_json(by_alias=True, exclude_unset=True, warnings="error")
        except ValueError as exc:
            failure = ApiValueError(describe_serialization_error(self, exc))
        raise failure

    def to_dict(self) -> Dict[str, Any]:
        """Return the fields that were set as plain JSON types, keyed by wire name."""
        try:
            return self.model_dump(mode="json", by_alias=True, exclude_unset=True, warnings="error")
        except ValueError as exc:
            failure = ApiValueError(describe_serialization_error(self, exc))
        raise failure

    @classmethod
    def from_json(cls, json_str: Union[str, bytes]) -> Self:
        """Parse and validate a JSON document; raise ApiValueError if it does not fit."""
        try:
            return cls.model_validate_json(json_str)
        except (ValueError, TypeError) as exc:
            failure = validation_failure(cls, exc)
        raise failure

    @classmethod
    def from_dict(cls, obj: Optional[Dict[str, Any]]) -> Optional[Self]:
        """Validate a decoded JSON object; `None` gives `None`; raise ApiValueError if it does not fit."""
        if obj is None:
            return None
        check_decoded_json(cls, obj)
        try:
            return cls.model_validate(obj)
        except (ValueError, TypeError) as exc:
            failure = validation_failure(cls, exc)
        raise failure
