"""Stripe-style parameters with pydantic: the value types Stripe's API takes, and its error reporting.

Form values arrive as strings, so integers and booleans are parsed as Stripe parses them (digits only;
`true`/`false`). An empty string means "unset": only `Unsettable` fields accept it (as None); anywhere
else it is Stripe's `parameter_invalid_empty` error.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    ValidationError,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from ..runtime.errors import InvalidRequestError
from .wire import RepeatedValues

MAX_STRING = 5000
# Deviations from Stripe (which allows 5000 everywhere), stated in docs/api.md: an id is part of a DynamoDB key
# (at most 1024 bytes in a sort key: 255 characters of up to 4 bytes each fit), and a URL a browser is sent to
# stays within what every browser and proxy handles.
MAX_ID = 255
MAX_URL = 2048
ID_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]+$"  # no control characters: ids end up in logs, headers and JWT claims


class StripeParams(BaseModel):
    # Validators are built on demand (defer_build) so a function builds only the models it checks: each handler
    # builds its own at init with `build_validators`, the others are never built in it.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _plain_names_read(model: type[BaseModel], raw: dict[str, Any]) -> dict[str, Any]:
    """A top-level array parameter sent the way OpenAPI sends arrays (`expand=a&expand=b`, or `expand=a` for one) is
    that array; a scalar sent more than once is its last value, as Rack reads it. Nested in a hash, only Stripe's
    brackets make an array, so a plain value there is no array of one."""
    resolved = dict(raw)
    for name, value in raw.items():
        field = model.model_fields.get(name)
        takes_array = field is not None and _takes_array(field.annotation)
        if isinstance(value, RepeatedValues):
            resolved[name] = list(value) if takes_array else value[-1]
        elif takes_array and isinstance(value, str) and value != "":  # "" unsets, or is refused, as before
            resolved[name] = [value]
    return resolved


def _takes_array(annotation: Any) -> bool:
    """Whether a field's type is a list (possibly optional, or annotated)."""
    if get_origin(annotation) is list:
        return True
    return any(_takes_array(argument) for argument in get_args(annotation))


def build_validators(*models: type[StripeParams]) -> None:
    """Build these models' validators now, during the function's init, rather than in its first request."""
    for model in models:
        model.model_rebuild(force=True)


def _not_empty(value: Any) -> Any:
    if value == "":
        raise PydanticCustomError("parameter_invalid_empty", "empty string")
    return value


class _EmptyStringUnsets:
    """`Annotated[X | None, Unsettable]`: an empty string given means None (unset), as Stripe reads it; the JSON
    schema says so the way Stripe's spec does, with an `enum: [""]` branch."""

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(_empty_is_none, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        described = handler(schema)
        empty = {"type": "string", "enum": [""]}
        if "anyOf" in described:
            return {**described, "anyOf": [*described["anyOf"], empty]}
        return {"anyOf": [described, empty]}


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


def _form_integer(value: Any) -> Any:
    # Stripe takes integers as digits only: no "3.0", "1_000", " 3 " or JSON booleans. A JSON number with no
    # fraction (3.0) is an integer to JSON Schema, as the OpenAPI document's readers read it.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 10**15:
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,15}", value):
        return int(value)
    raise PydanticCustomError("int_parsing", "Invalid integer")


def _form_boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise PydanticCustomError("bool_parsing", "Invalid boolean")


# URLs as a pattern, so that the OpenAPI document states what is accepted: http(s), a host, no credentials, a port in
# range, and no control or space characters (those str.isspace() knows) anywhere.
_NOT_SPACE = r"\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_HOST = rf"[^{_NOT_SPACE}/?#@:\[\]\\%]+"
_PORT = r"(?::(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
_REST = rf"(?:[/?#][^{_NOT_SPACE}]*)?"
_HTTP, _HTTPS = "[Hh][Tt][Tt][Pp]", "[Hh][Tt][Tt][Pp][Ss]"  # schemes are case-insensitive
URL_PATTERN = rf"^{_HTTP}[Ss]?://{_HOST}{_PORT}{_REST}$"
# Where a customer is sent: https, or plain http to the developer's own machine (test mode only; service.py checks)
RETURN_URL_PATTERN = rf"^(?:{_HTTPS}://{_HOST}|{_HTTP}://(?:localhost|127\.0\.0\.1|\[::1\])){_PORT}{_REST}$"


class _Pattern:
    """Checks a string against a pattern as url_invalid (not pydantic's pattern error), and states the pattern in
    the JSON schema of the string itself (so that an Unsettable's "" branch stays valid)."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._compiled = re.compile(pattern)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.pattern}

    def _check(self, value: str) -> str:
        if not self._compiled.fullmatch(value):
            raise PydanticCustomError("url_invalid", "Not a valid URL")
        return value


def _check_url(value: str) -> str:
    # An absolute http(s) URL with a host, no credentials and nothing a browser would have to repair.
    try:
        parts = urlsplit(value)
        valid = parts.port is None or parts.port > 0
    except ValueError:
        valid = False
    if (
        not valid
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    ):
        raise PydanticCustomError("url_invalid", "Not a valid URL")
    return value


NotEmpty = BeforeValidator(_not_empty)
Text = Annotated[str, NotEmpty, StringConstraints(min_length=1, max_length=MAX_STRING)]
# NotEmpty last, so that the JSON schema keeps the pattern (it still runs first: a before-validator)
ObjectId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID, pattern=ID_PATTERN), NotEmpty]
Url = Annotated[
    str,
    NotEmpty,
    StringConstraints(min_length=1, max_length=MAX_URL),
    AfterValidator(_check_url),
    _Pattern(URL_PATTERN),
]
ReturnUrl = Annotated[
    str, NotEmpty, StringConstraints(min_length=1, max_length=MAX_URL), AfterValidator(_check_url),
    _Pattern(RETURN_URL_PATTERN),
]  # fmt: skip
MAX_FORM_INTEGER = 10**15 - 1  # what _form_integer reads from a form: at most 15 digits
FormInteger = Annotated[int, Field(ge=-MAX_FORM_INTEGER, le=MAX_FORM_INTEGER), BeforeValidator(_form_integer)]
FormBoolean = Annotated[bool, BeforeValidator(_form_boolean)]
# Bounds before the validator, so that the JSON schema states them (minimum, maximum)
ListLimit = Annotated[int, Field(ge=1, le=100), BeforeValidator(_form_integer)]
Unsettable = _EmptyStringUnsets()  # Annotated[X | None, Unsettable]: "" given → None


def is_object_id(value: str) -> bool:
    """Whether a path's id could name an object at all (else it is missing, without asking the store)."""
    return len(value) <= MAX_ID and re.fullmatch(ID_PATTERN, value) is not None


def expandable(*fields: str) -> Any:
    """`Field(...)` of an `expand` parameter: which fields may be named (check_expand refuses the others)."""
    if not fields:  # an empty enum is no schema: nothing may be named, so at most an empty list
        return Field(json_schema_extra={"maxItems": 0})
    return Field(json_schema_extra={"items": {"type": "string", "enum": list(fields)}})


MAX_METADATA_KEYS = 50
MetadataKey = Annotated[str, StringConstraints(min_length=1, max_length=40)]
MetadataValue = Annotated[str, StringConstraints(max_length=500)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=MAX_METADATA_KEYS)]


def merged_metadata(current: dict[str, str], given: dict[str, str] | None) -> dict[str, str]:
    """An update's metadata as Stripe merges it: "" for the whole hash clears it, otherwise key by key, an empty
    value removing its key."""
    if given is None:
        return {}
    merged = {**current, **given}
    metadata = {key: value for key, value in merged.items() if value != ""}
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidRequestError(
            f"Invalid metadata: an object can have at most {MAX_METADATA_KEYS} metadata keys.",
            code="parameter_invalid",
            param="metadata",
        )
    return metadata


def check_one_cursor(starting_after: str | None, ending_before: str | None) -> None:
    """A list page is after one object or before one, not both."""
    if starting_after is not None and ending_before is not None:
        raise InvalidRequestError(
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameters_exclusive",
            param="ending_before",
        )


def check_expand(expand: list[str] | None, expandable: tuple[str, ...]) -> None:
    for field in expand or []:
        if field not in expandable:
            raise InvalidRequestError(
                f"This property cannot be expanded ({field}).", code="parameter_invalid", param="expand"
            )


def validate_params[ModelT: BaseModel](model: type[ModelT], raw: dict[str, Any]) -> ModelT:
    try:
        return model.model_validate(_plain_names_read(model, raw))
    except ValidationError as exc:
        raise stripe_error(exc) from None


def param_name(loc: tuple[int | str, ...]) -> str:
    """('flow_data', 'items', 0, 'id') → 'flow_data[items][0][id]'; pydantic's '[key]' marker (a bad hash key) is
    dropped, since the key itself is already the last part."""
    head, *rest = (str(part) for part in loc if part != "[key]")
    return head + "".join(f"[{part}]" for part in rest)


def _priority(error: Any) -> int:
    # Stripe names unknown parameters before anything else, then empty values, then the first other problem.
    if error["type"] == "extra_forbidden":
        return 0
    if error.get("input") == "":
        return 1
    return 2


def stripe_error(exc: ValidationError) -> InvalidRequestError:
    first = min(exc.errors(), key=_priority)
    name = param_name(first["loc"])
    kind, value = first["type"], first.get("input")
    if kind == "extra_forbidden":
        return InvalidRequestError(f"Received unknown parameter: {name}", code="parameter_unknown", param=name)
    if value == "":
        return InvalidRequestError(
            f"You passed an empty string for '{name}'. We assume empty values are an attempt to unset a parameter; "
            f"however '{name}' cannot be unset. You should remove '{name}' from your request or supply a non-empty "
            "value.",
            code="parameter_invalid_empty",
            param=name,
        )
    if kind == "missing":
        return InvalidRequestError(f"Missing required param: {name}.", code="parameter_missing", param=name)
    if kind == "url_invalid":
        return InvalidRequestError("Not a valid URL", code="url_invalid", param=name)
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        return InvalidRequestError(f"Invalid {name}: must be one of {expected}", code="parameter_invalid", param=name)
    if kind == "string_too_long" or (kind == "too_long" and isinstance(value, str)):
        limit = first.get("ctx", {}).get("max_length")
        message = f"Invalid {name}: must be at most {limit} characters"
        return InvalidRequestError(message, code="parameter_invalid", param=name)
    if kind == "string_pattern_mismatch":
        message = f"Invalid {name}: an id cannot contain control characters"
        return InvalidRequestError(message, code="parameter_invalid", param=name)
    if kind == "int_parsing":
        message = f"Invalid integer: {_show(value)}"
        return InvalidRequestError(message, code="parameter_invalid_integer", param=name)
    if kind == "bool_parsing":
        return InvalidRequestError(f"Invalid boolean: {_show(value)}", code="parameter_invalid", param=name)
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return InvalidRequestError(f"Invalid {name}: expected a hash", code="parameter_invalid", param=name)
    if kind == "list_type":
        return InvalidRequestError(f"Invalid {name}: expected an array", code="parameter_invalid", param=name)
    if kind == "string_type":
        return InvalidRequestError(f"Invalid {name}: expected a string", code="parameter_invalid", param=name)
    if kind in ("greater_than_equal", "less_than_equal", "too_short", "too_long"):
        return InvalidRequestError(f"Invalid {name}: {first['msg'].lower()}", code="parameter_invalid", param=name)
    return InvalidRequestError(f"Invalid {name}: {first['msg']}", code="parameter_invalid", param=name)


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 100 else text[:100] + "…"
