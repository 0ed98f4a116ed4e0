"""Raw YAML values -> typed recipe fields: a mapping becomes its dataclass (an unknown key is an
error naming the nearest valid one) and each value is checked against its field's type hint,
converted where that is lossless (YAML 1.1 reads `5e-3` as a string: it is the float it
plainly is)."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, Literal, Union

from hfft.errors import RecipeError, did_you_mean


def build(cls: type, raw: Any, prefix: str, hints: dict[str, Any] | None = None) -> Any:
    """Recursively turn a mapping into dataclass `cls`, rejecting unknown keys; `hints`
    replaces the type of some fields (the task's `data:` section)."""
    where = prefix.rstrip(".") or "the recipe"
    if not isinstance(raw, dict):
        raise RecipeError(f"{where} must be a mapping, got {show(raw)}")
    hints = {**typing.get_type_hints(cls), **(hints or {})}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise RecipeError(
                f"unknown recipe key '{prefix}{key}'"
                f"{did_you_mean(f'{prefix}{key}', [prefix + f for f in fields])}; "
                f"valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: {sorted(fields)}"
            )
    kwargs = {}
    for name, f in fields.items():
        if name in raw:
            kwargs[name] = coerce(hints[name], raw[name], f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecipeError(f"missing required recipe key '{prefix}{name}'")
    return cls(**kwargs)


def coerce(hint: Any, value: Any, key: str) -> Any:
    """Check `value` against type `hint`; return it (converted where lossless)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return build(hint, {} if value is None else value, prefix=key + ".")
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(option, value, key)
            except RecipeError as err:
                errors.append(err)
        raise (
            errors[0]
            if len(errors) == 1
            else RecipeError(f"{key}: expected {_describe(hint)}, got {show(value)}")
        )
    if origin is Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            raise RecipeError(
                f"{key}: unknown value {value!r}{did_you_mean(str(value), map(str, choices))}; "
                f"choose one of {list(choices)}"
            )
        return value
    if hint is Any:
        return value
    if origin is list:
        if not isinstance(value, list):
            raise RecipeError(f"{key}: expected a list, got {show(value)}")
        (item,) = typing.get_args(hint) or (Any,)
        return [coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{key}: expected a mapping, got {show(value)}")
        return dict(value)
    return coerce_scalar(hint, value, key)


def coerce_scalar(hint: type, value: Any, key: str) -> Any:
    """A bool, int, float or str value for `key`, or a RecipeError saying what was found."""
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise RecipeError(f"{key}: expected true or false, got {show(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise RecipeError(f"{key}: expected an integer, got {show(value)}")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads `5e-3` (no dot) as a string; accept what is plainly a number.
            try:
                return float(value)
            except ValueError:
                pass
        raise RecipeError(f"{key}: expected a number, got {show(value)}")
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise RecipeError(f"{key}: expected a string, got {show(value)}")
    raise TypeError(f"recipe field {key} has unsupported type {hint}")


def library_options(
    cls: type,
    values: dict[str, Any],
    prefix: str,
    takes: str,
    allowed: set[str] | None = None,
    kinds: tuple[type, ...] = (int, float, str),
) -> dict[str, Any]:
    """`values` checked against the init fields of a library's options dataclass `cls` (or the
    `allowed` subset), as `training:` is against TrainingArguments: an unknown key is an error
    naming the nearest field ("`prefix` takes `takes`"), and a value of a field typed as one of
    `kinds` is checked and converted (`coerce_scalar`)."""
    names = allowed if allowed is not None else {f.name for f in dataclasses.fields(cls) if f.init}
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # a library's forward reference we cannot resolve: no type checks
        hints = {}
    out = {}
    for key, value in values.items():
        if key not in names:
            raise RecipeError(
                f"unknown recipe key '{prefix}{key}'"
                f"{did_you_mean(f'{prefix}{key}', [prefix + f for f in names])}: "
                f"{prefix.rstrip('.')}: takes {takes}"
            )
        plain = plain_type(hints.get(key, Any), kinds)
        checked = plain is not None and value is not None
        out[key] = coerce_scalar(plain, value, prefix + key) if checked else value
    return out


def plain_type(hint: Any, kinds: tuple[type, ...] = (int, float, str)) -> type | None:
    """One of `kinds` when the field is (optionally) exactly that type (output_dir: a folder,
    never `true`), else None."""
    args = [a for a in (typing.get_args(hint) or (hint,)) if a is not type(None)]
    if len(args) == 1 and args[0] in kinds:
        return args[0]
    return None


def show(value: Any) -> str:
    """`'abc' (str)`: a value and its YAML-read type, for messages."""
    return f"{value!r} ({type(value).__name__})"


def _describe(hint: Any) -> str:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return " or ".join(getattr(a, "__name__", str(a)) for a in args)


def check_range(
    key: str,
    value: float | None,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    hint: str = "",
) -> None:
    """Raise `RecipeError("<key> must be <range>, got <value><hint>")` when `value` (None: unset,
    always fine) is outside [low, high]; `*_open` excludes that bound."""
    if value is None:
        return
    if math.isnan(value):  # compares false with everything: would pass any range
        raise RecipeError(f"{key} must be a number, got nan")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not (too_low or too_high):
        return
    if high is None:
        rule = f"{'>' if low_open else '>='} {_num(low)}"
    elif low is None:
        rule = f"{'<' if high_open else '<='} {_num(high)}"
    else:
        rule = f"in {'(' if low_open else '['}{_num(low)}, {_num(high)}{')' if high_open else ']'}"
    raise RecipeError(f"{key} must be {rule}, got {_num(value)}{hint}")


def _num(value: float) -> str:
    """A number as a person writes it: 4294967295, 0.35 (not 0.35000000000000003), 1e-07."""
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"
