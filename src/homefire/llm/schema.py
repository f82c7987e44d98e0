"""JSON schemas from Python types, and a small checker for values against such schemas.

Schemas are built inline (no `$ref`), because grammar compilers and small models both do
better with one flat document; pydantic models are used through their own schema, with
their `$defs` inlined the same way. The checker covers the keywords these schemas use, so
structured output can be validated without a JSON-schema library.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from homefire.errors import InvalidParameterError

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    typing.Any: {},
    object: {},
}

_SEQUENCES = (list, tuple, set, frozenset, Sequence, typing.Sequence)
_MAPPINGS = (dict, Mapping, typing.Mapping)


def is_pydantic_model(value: Any) -> bool:
    """A pydantic model class (checked by duck typing, so pydantic need not be imported)."""
    return isinstance(value, type) and callable(getattr(value, "model_json_schema", None))


def schema_for_type(annotation: Any, *, where: str = "type") -> dict[str, Any]:
    """The JSON schema of a type annotation; `where` names it in errors."""
    return _schema(annotation, where, ())


def object_schema(cls: Any, *, where: str = "schema") -> dict[str, Any]:
    """Schema of a class with fields: pydantic model, dataclass or TypedDict."""
    if is_pydantic_model(cls) or dataclasses.is_dataclass(cls) or typing.is_typeddict(cls):
        return _schema(cls, where, ())
    raise InvalidParameterError(
        where,
        f"expected a pydantic model, a dataclass, a TypedDict or a JSON schema dict, got {cls!r}",
    )


def _schema(annotation: Any, where: str, seen: tuple[Any, ...]) -> dict[str, Any]:
    if annotation in _SCALARS:
        return dict(_SCALARS[annotation])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        inner = _schema(args[0], where, seen)
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            inner["description"] = " ".join(notes)
        return inner
    if origin is typing.Literal:
        return _enum_schema(list(args))
    if origin in (typing.Union, types.UnionType):
        options = [_schema(a, where, seen) for a in args]
        return options[0] if len(options) == 1 else {"anyOf": options}
    if origin in _SEQUENCES or annotation in _SEQUENCES:
        return _array_schema(origin or annotation, args, where, seen)
    if origin in _MAPPINGS or annotation in _MAPPINGS:
        out: dict[str, Any] = {"type": "object"}
        if len(args) == 2:
            out["additionalProperties"] = _schema(args[1], where, seen)
        return out
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return _enum_schema([member.value for member in annotation])
    if annotation in seen:
        raise InvalidParameterError(
            where, f"{annotation.__name__} refers to itself; recursive types are not supported"
        )
    if is_pydantic_model(annotation):
        return inline_refs(annotation.model_json_schema(), where=where)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return _dataclass_schema(annotation, where, (*seen, annotation))
    if typing.is_typeddict(annotation):
        return _typeddict_schema(annotation, where, (*seen, annotation))
    raise InvalidParameterError(
        where,
        f"cannot describe the type {annotation!r} as JSON; use str, int, float, bool, "
        "Literal, an Enum, list, dict, a dataclass, a TypedDict or a pydantic model",
    )


def _enum_schema(values: list[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"enum": values}
    kinds = {_json_type(v) for v in values}
    if len(kinds) == 1 and None not in kinds:
        out["type"] = kinds.pop()
    return out


def _json_type(value: Any) -> str | None:
    for python_type, name in ((bool, "boolean"), (int, "integer"), (float, "number")):
        if isinstance(value, python_type):
            return name
    if isinstance(value, str):
        return "string"
    return None


def _array_schema(
    origin: Any, args: tuple[Any, ...], where: str, seen: tuple[Any, ...]
) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "array"}
    if origin is tuple and args and args[-1] is not Ellipsis:
        out["prefixItems"] = [_schema(a, where, seen) for a in args]
        out["minItems"] = out["maxItems"] = len(args)
    elif args:
        out["items"] = _schema(args[0], where, seen)
    return out


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _dataclass_schema(cls: type, where: str, seen: tuple[Any, ...]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for item in dataclasses.fields(cls):
        properties[item.name] = _schema(hints.get(item.name, Any), where, seen)
        if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            required.append(item.name)
    return _object(properties, required)


def _typeddict_schema(cls: Any, where: str, seen: tuple[Any, ...]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    properties = {name: _schema(hint, where, seen) for name, hint in hints.items()}
    required = [name for name in hints if name in cls.__required_keys__]
    return _object(properties, required)


def inline_refs(schema: Mapping[str, Any], *, where: str = "schema") -> dict[str, Any]:
    """Replace local `#/$defs/...` references by the definitions themselves."""
    definitions = dict(schema.get("$defs", {}) or schema.get("definitions", {}))

    def resolve(node: Any, stack: tuple[str, ...]) -> Any:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
                name = ref.rsplit("/", 1)[1]
                if name in stack:
                    raise InvalidParameterError(
                        where, f"{name} refers to itself; recursive schemas are not supported"
                    )
                if name not in definitions:
                    raise InvalidParameterError(where, f"unknown reference {ref!r}")
                target = resolve(definitions[name], (*stack, name))
                extra = {k: resolve(v, stack) for k, v in node.items() if k != "$ref"}
                return {**target, **extra}
            return {
                k: resolve(v, stack) for k, v in node.items() if k not in ("$defs", "definitions")
            }
        if isinstance(node, list):
            return [resolve(v, stack) for v in node]
        return node

    result: dict[str, Any] = resolve(schema, ())
    return result


def closed(schema: Any) -> Any:
    """The schema with every object that lists its properties refusing others, unless it says
    otherwise: a constrained small model then cannot wander off into invented fields."""
    if isinstance(schema, Mapping):
        out = {k: closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


# --- checking values ----------------------------------------------------------------------

_TYPE_CHECKS: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def check_value(value: Any, schema: Mapping[str, Any], path: str = "$") -> str | None:
    """The first way `value` breaks `schema` (as "path: problem"), or None if it fits."""
    expected = schema.get("type")
    if expected is not None:
        kinds = [expected] if isinstance(expected, str) else list(expected)
        if not any(_TYPE_CHECKS.get(k, lambda v: True)(value) for k in kinds):
            return f"{path}: expected {' or '.join(kinds)}, got {_describe(value)}"
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: {value!r} is not one of {schema['enum']!r}"
    if "const" in schema and value != schema["const"]:
        return f"{path}: expected {schema['const']!r}, got {value!r}"
    for key in ("anyOf", "oneOf"):
        if key in schema and all(check_value(value, s, path) for s in schema[key]):
            return f"{path}: matches none of the allowed shapes"
    if isinstance(value, dict):
        return _check_object(value, schema, path)
    if isinstance(value, list):
        return _check_array(value, schema, path)
    return _check_bounds(value, schema, path)


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> str | None:
    properties = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            return f"{path}: missing required field {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            problem = check_value(item, properties[name], f"{path}.{name}")
        elif extra is False:
            problem = f"{path}: unexpected field {name!r}"
        elif isinstance(extra, Mapping):
            problem = check_value(item, extra, f"{path}.{name}")
        else:
            problem = None
        if problem:
            return problem
    return None


def _check_array(value: list[Any], schema: Mapping[str, Any], path: str) -> str | None:
    if len(value) < schema.get("minItems", 0):
        return f"{path}: needs at least {schema['minItems']} items, got {len(value)}"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        return f"{path}: allows at most {schema['maxItems']} items, got {len(value)}"
    prefix = schema.get("prefixItems", [])
    for index, item in enumerate(value):
        item_schema = prefix[index] if index < len(prefix) else schema.get("items")
        if isinstance(item_schema, Mapping) and (
            problem := check_value(item, item_schema, f"{path}[{index}]")
        ):
            return problem
    return None


def _check_bounds(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{path}: {value} is below the minimum {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{path}: {value} is above the maximum {schema['maximum']}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{path}: shorter than {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{path}: longer than {schema['maxLength']} characters"
    return None


def _describe(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    names |= {dict: "object", type(None): "null"}
    return names.get(type(value), type(value).__name__)
