"""Typed configuration files: validating a YAML document against its pydantic models and turning
pydantic's errors into one message that names the file, the entry and the key, and what was
expected (`syncs.yml: destinations.crm.max_attempts must be at least 1, got 0`). Every
configuration file of the product (reverse_etl/syncs.yml, the landing contract, ...) reads through
here, so its errors read alike."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Strict(BaseModel):
    """A configuration entry: unknown keys are errors (a misspelt setting would otherwise be ignored)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def where(path: Path | str, loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += ("." if text else "") + str(part)
    return f"{path}: {text}" if text else str(path)


def explain(exc: ValidationError, path: Path | str, *, prefix: tuple[Any, ...] = (),
            expected: Mapping[str, str] | None = None, union_tags: frozenset[str] = frozenset()) -> str:
    """Every problem of `exc` as `<file>: <entry>.<key> <what was expected>, got <value>`. `expected`
    says what a key holds (for missing keys and wrong ids); `union_tags` are the tags of discriminated
    unions, which pydantic puts into an error's location."""
    expected = expected or {}
    problems: list[str] = []
    missing: dict[str, list[str]] = {}
    for error in exc.errors():
        loc = prefix + tuple(p for p in error["loc"] if p not in union_tags)
        kind, given, ctx = error["type"], error.get("input"), error.get("ctx") or {}
        name = str(loc[-1]) if loc else ""
        if kind == "missing":
            missing.setdefault(where(path, loc[:-1]), []).append(name)
            continue
        at = where(path, loc)
        if kind == "string_pattern_mismatch" and ctx.get("pattern") == IDENTIFIER_PATTERN:
            problems.append(f"{at}: {given!r} is not a plain identifier (letters, digits, _)")
        elif kind == "string_pattern_mismatch" or (name in expected and kind.endswith(("_type", "_parsing"))):
            problems.append(f"{at} must be {expected.get(name, 'of the form ' + str(ctx.get('pattern')))}, "
                            f"got {given!r}")
        elif kind == "literal_error":
            problems.append(f"{at} must be one of {ctx.get('expected')}, got {given!r}")
        elif kind == "extra_forbidden":
            problems.append(f"{where(path, loc[:-1])}: unknown key {name!r}")
        elif kind == "value_error":
            message = str(ctx.get("error") or error["msg"]).removeprefix("Value error, ")
            problems.append(f"{at} {message}" if message.startswith(("must", "needs")) else f"{at}: {message}")
        elif kind in ("greater_than_equal", "greater_than"):
            bound = ctx.get("ge", ctx.get("gt"))
            bound = format(bound, "g") if isinstance(bound, float) else bound
            problems.append(f"{at} must be {'at least' if kind == 'greater_than_equal' else 'above'} {bound}, "
                            f"got {given!r}")
        elif kind in ("less_than_equal", "less_than"):
            bound = ctx.get("le", ctx.get("lt"))
            bound = format(bound, "g") if isinstance(bound, float) else bound
            problems.append(f"{at} must be {'at most' if kind == 'less_than_equal' else 'below'} {bound}, "
                            f"got {given!r}")
        elif kind == "too_short":
            problems.append(f"{at} must hold at least {ctx.get('min_length')} item(s), got {given!r}")
        else:  # a dict is shown by the keys that tell entries apart, not whole
            shown = {k: given[k] for k in ("kind", "platform", "format") if k in given} \
                if isinstance(given, dict) else given
            problems.append(f"{at}: {error['msg'][:1].lower() + error['msg'][1:]}; got {shown!r}")
    for at, names in missing.items():
        hints = "; ".join(f"{n}: {expected[n]}" for n in names if n in expected)
        problems.append(f"{at} lacks {', '.join(repr(n) for n in names)}" + (f" ({hints})" if hints else ""))
    return "; ".join(problems)


def validated(model: type[BaseModel], raw: Any, path: Path | str, error: type[Exception], *,
              prefix: tuple[Any, ...] = (), expected: Mapping[str, str] | None = None,
              union_tags: frozenset[str] = frozenset()) -> Any:
    """`raw` as `model`, or `error` with every problem explained."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(explain(exc, path, prefix=prefix, expected=expected, union_tags=union_tags)) from None
