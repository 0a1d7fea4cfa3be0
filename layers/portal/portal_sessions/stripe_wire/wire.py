"""Decoding request bodies the way Stripe reads them: form-encoded with brackets, or JSON.

`a[b][c]=x` nests hashes; `a[]=x` and `a[0]=x` build arrays (other clients and the official Python SDK
respectively). The result is plain dicts, lists and strings for the parameter models to validate.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from ..runtime.errors import InvalidRequestError

MAX_BODY_BYTES = 64 * 1024
MAX_NESTING = 8
MAX_PARAMETERS = 1000

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INDEX = re.compile(r"^[0-9]{1,6}$")


def decode_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Parameters of a POST body, or an InvalidRequestError naming what is wrong with it."""
    media_type = (content_type or "application/x-www-form-urlencoded").split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("Invalid request body: it must be UTF-8 encoded.") from None
    if media_type == "application/json":
        return _decode_json(text)
    if media_type == "application/x-www-form-urlencoded":
        return decode_form(text)
    raise InvalidRequestError(
        f"Invalid Content-Type '{media_type}': send application/x-www-form-urlencoded or application/json."
    )


def _decode_json(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidRequestError("Invalid JSON in the request body.") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("Invalid request body: the JSON value must be an object.")
    if _depth(value) > MAX_NESTING:
        raise InvalidRequestError(f"Invalid request body: parameters nest deeper than {MAX_NESTING} levels.")
    _refuse_lone_surrogates(value)
    return _without_nulls(value)  # type: ignore[no-any-return]


def _without_nulls(value: Any) -> Any:
    """A JSON `null` member means the parameter was not given (a form cannot send null; "" is how to unset)."""
    if isinstance(value, dict):
        return {name: _without_nulls(item) for name, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _refuse_lone_surrogates(params: dict[str, Any]) -> None:
    """JSON's \\u escapes can make a lone surrogate, which is not Unicode text: no store, hash or log can take it."""
    stack: list[tuple[str, Any]] = list(params.items())
    while stack:
        name, value = stack.pop()
        if not _is_text(name):
            raise _not_text(name)
        if isinstance(value, str) and not _is_text(value):
            raise _not_text(name)
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((f"{name}[{key}]", child) for key, child in children)


def _is_text(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_text(name: str) -> InvalidRequestError:
    shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return InvalidRequestError(
        f"Invalid string: {shown} holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text.",
        code="parameter_invalid",
        param=shown,
    )


def _depth(value: Any) -> int:
    # Iterative, so a hostile body cannot exhaust the stack here.
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_NESTING:
            break
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


class RepeatedValues(list[str]):
    """A plain name given more than once (`expand=a&expand=b`): an array parameter takes every value (OpenAPI's form
    of an array), any other its last one (as Rack reads it); the parameters' model decides (stripe_params.py)."""


def decode_form(text: str) -> dict[str, Any]:
    if not _is_text(text):
        raise InvalidRequestError("Invalid request: it holds a lone surrogate, which is not valid Unicode text.")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_PARAMETERS)
    except UnicodeDecodeError:
        raise InvalidRequestError("Invalid request body: percent-encoded bytes must be UTF-8.") from None
    except ValueError:
        raise InvalidRequestError(f"Invalid request body: more than {MAX_PARAMETERS} parameters.") from None
    root: dict[str, Any] = {}
    for name, value in pairs:
        _assign(root, name, value)
    return {key: _arrays_from_indexes(value) for key, value in root.items()}


def _assign(root: dict[str, Any], name: str, value: str) -> None:
    match = _NAME.match(name)
    if not match:
        raise InvalidRequestError(f"Invalid parameter name: {name}", param=name)
    keys = [match.group(1), *_SEGMENT.findall(match.group(2))]
    if len(keys) > MAX_NESTING:
        raise InvalidRequestError(f"Invalid parameter {name}: nested deeper than {MAX_NESTING} levels.", param=name)

    container: Any = root
    for position, key in enumerate(keys):
        last = position == len(keys) - 1
        following = None if last else keys[position + 1]
        if key == "" and position > 0:
            if not isinstance(container, list):
                raise InvalidRequestError(f"Invalid array: {name}", param=name)
            if last:
                container.append(value)
                return
            # `items[][id]=a&items[][price]=b` fills one element until a key repeats, as Rack does.
            if not container or not isinstance(container[-1], dict) or following in container[-1]:
                container.append({})
            container = container[-1]
            continue
        if not isinstance(container, dict):
            raise InvalidRequestError(f"Invalid hash: {name}", param=name)
        if last:
            existing = container.get(key)
            if isinstance(existing, RepeatedValues):
                existing.append(value)
                return
            if isinstance(existing, (dict, list)):
                raise InvalidRequestError(f"Invalid parameter {name}: it is also given as a hash or array.", param=name)
            if position == 0 and isinstance(existing, str):  # a top-level name again: kept, for its model to read
                container[key] = RepeatedValues([existing, value])
                return
            container[key] = value  # a repeated nested scalar takes the last value, as Rack does
            return
        wanted: type = list if following == "" else dict
        existing = container.setdefault(key, wanted())
        if not isinstance(existing, wanted):
            raise InvalidRequestError(f"Invalid parameter {name}: it mixes a value, hash and array.", param=name)
        container = existing


def _arrays_from_indexes(value: Any) -> Any:
    """`{"0": a, "1": b}` from `x[0]=a&x[1]=b` becomes `[a, b]`."""
    if isinstance(value, RepeatedValues):
        return value
    if isinstance(value, list):
        return [_arrays_from_indexes(item) for item in value]
    if not isinstance(value, dict):
        return value
    converted = {key: _arrays_from_indexes(item) for key, item in value.items()}
    if converted and all(_INDEX.match(key) for key in converted):
        return [converted[key] for key in sorted(converted, key=int)]
    return converted
