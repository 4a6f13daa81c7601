"""Workflow conditions: pure functions over a per-step snapshot.

A condition is ``{"field": "ns.key", "op": "...", "value": ...}``. The snapshot is a plain
dict built once per step (``var``, ``contact``, ``conversation``, ``now``), so everything
here runs without a database and is tested without one.

A condition that cannot be evaluated raises :class:`ConditionError` with a message an admin
can act on. It is never quietly read as "no match": a typo in a workflow must show up in the
run log, not as customers silently routed down the ``else`` branch.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

NAMESPACES: frozenset[str] = frozenset({"var", "contact", "conversation"})
OPERATORS: frozenset[str] = frozenset({"eq", "ne", "contains", "in", "exists", "not_exists", "gt", "lt", "older_than"})
# Operators that only look at the field; any "value" given with them is ignored.
UNARY_OPERATORS: frozenset[str] = frozenset({"exists", "not_exists"})
MATCH_MODES: frozenset[str] = frozenset({"all", "any"})

# Deliberately stricter than Decimal(): no "NaN", "Infinity" or "1_000", which Decimal
# accepts but no admin means as a number.
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_EXPLAIN_MAX = 60
# Emoji presentation selectors: "❤️" and "❤" are the same answer typed on two keyboards.
_VARIATION_SELECTORS = frozenset(chr(code) for code in range(0xFE00, 0xFE10))


class ConditionError(ValueError):
    """A condition that cannot be evaluated; the message is meant for the run log."""


def split_field(field: object) -> tuple[str, str]:
    """Split ``"ns.key"`` on the first dot, checking the namespace.

    Keys are flat: ``var.address.city`` looks up the key ``"address.city"`` in ``var``.
    """
    if not isinstance(field, str) or "." not in field:
        raise ConditionError(f"field {_show(field)} must look like namespace.name, e.g. var.team or contact.email")
    namespace, key = field.split(".", 1)
    if namespace not in NAMESPACES:
        raise ConditionError(
            f"field {_show(field)} has an unknown namespace {_show(namespace)}; "
            f"use one of {', '.join(sorted(NAMESPACES))}"
        )
    if not key.strip():
        raise ConditionError(f"field {_show(field)} names no {namespace} field after the dot")
    return namespace, key


def resolve(field: str, snapshot: Mapping[str, Any]) -> Any:
    """The value of ``field`` in ``snapshot``; None when it (or its namespace) is absent."""
    namespace, key = split_field(field)
    values = snapshot.get(namespace)
    if not isinstance(values, Mapping):
        return None
    return values.get(key)


def evaluate(condition: Mapping[str, Any], snapshot: Mapping[str, Any]) -> bool:
    """Whether ``condition`` holds for ``snapshot``; raises ConditionError when it can't tell."""
    # The engine may run a workflow published before a validation rule existed, so the same
    # checks run here and fail loudly instead of guessing.
    errors = validate_condition(condition)
    if errors:
        raise ConditionError("; ".join(errors))
    field: str = condition["field"]
    op: str = condition["op"]
    expected = condition.get("value")
    actual = resolve(field, snapshot)

    if op == "exists":
        return _exists(actual)
    if op == "not_exists":
        return not _exists(actual)
    if op == "eq":
        return _eq(actual, expected)
    if op == "ne":
        return actual is None or not _eq(actual, expected)
    if op == "contains":
        return _contains(field, actual, expected)
    if op == "in":
        return any(_eq(actual, option) for option in _options(expected))
    if op in ("gt", "lt"):
        return _compare(field, op, actual, expected)
    return _older_than(field, actual, expected, snapshot)


def evaluate_group(match: str, conditions: list[Mapping[str, Any]], snapshot: Mapping[str, Any]) -> bool:
    """Combine conditions: ``all`` (empty is True) or ``any`` (empty is False).

    Evaluation stops at the first condition that decides the result, so a condition after it
    that would raise is not reached; publish-time validation is what catches broken ones.
    """
    if not isinstance(match, str) or match not in MATCH_MODES:
        raise ConditionError(f'match must be "all" or "any", not {_show(match)}')
    if not isinstance(conditions, list):
        raise ConditionError(f"conditions must be a list, not {_show(conditions)}")
    if match == "all":
        return all(evaluate(condition, snapshot) for condition in conditions)
    return any(evaluate(condition, snapshot) for condition in conditions)


def explain(condition: Mapping[str, Any], snapshot: Mapping[str, Any]) -> str:
    """A one-line account for the run log, e.g. ``var.team ("Support") eq "Sales": false``.

    Never raises: an unevaluable condition is described with its error.
    """
    if not isinstance(condition, Mapping):
        return f"invalid condition {_show(condition)}"
    field = condition.get("field")
    op = condition.get("op")
    try:
        actual_text = _show(resolve(field, snapshot))
    except ConditionError:
        actual_text = "?"
    head = f"{field} ({actual_text}) {op}"
    if op not in UNARY_OPERATORS:
        head += f" {_show(condition.get('value'))}"
    try:
        result = evaluate(condition, snapshot)
    except ConditionError as error:
        return f"{head}: error: {error}"
    return f"{head}: {'true' if result else 'false'}"


def validate_condition(condition: object) -> list[str]:
    """Publish-time checks; the errors name the field and operator. Empty when valid."""
    if not isinstance(condition, Mapping):
        return [f"a condition must be an object with field, op and value, not {_show(condition)}"]
    errors: list[str] = []
    field = condition.get("field")
    op = condition.get("op")
    if field is None:
        errors.append("a condition has no field")
        label = "condition"
    else:
        label = f"condition on {_show(field)}"
        try:
            split_field(field)
        except ConditionError as error:
            errors.append(str(error))

    if op is None:
        errors.append(f"{label} has no op")
        return errors
    # The isinstance check also keeps an unhashable op (a list from bad JSON) from raising TypeError.
    if not isinstance(op, str) or op not in OPERATORS:
        errors.append(f"{label}: unknown operator {_show(op)}; use one of {', '.join(sorted(OPERATORS))}")
        return errors
    if op in UNARY_OPERATORS:
        return errors

    value = condition.get("value")
    if value is None:
        errors.append(f"{label}: operator {op} needs a value")
    elif op == "in":
        if not isinstance(value, list | str):
            errors.append(f"{label}: operator in needs a list or a comma-separated text, not {_show(value)}")
        elif not _options(value):
            errors.append(f"{label}: operator in needs at least one value")
        elif isinstance(value, list) and not all(_is_scalar(option) for option in value):
            errors.append(f"{label}: operator in takes plain values (text, numbers), not nested lists or objects")
    elif not _is_scalar(value):
        hint = "; use the in operator to match one of several values" if op in ("eq", "ne") else ""
        errors.append(f"{label}: operator {op} needs a single value, not {_show(value)}{hint}")
    elif op == "older_than":
        seconds = _number(value)
        if seconds is None:
            errors.append(f"{label}: operator older_than needs a number of seconds, not {_show(value)}")
        elif seconds < 0:
            errors.append(f"{label}: operator older_than needs a positive number of seconds, not {_show(value)}")
    elif op in ("gt", "lt") and _number(value) is None and _datetime(value) is None:
        errors.append(f"{label}: operator {op} needs a number or an ISO date, not {_show(value)}")
    return errors


# --- Comparison semantics -------------------------------------------------------------


def normalize_text(text: str) -> str:
    """Fold case, accents and surrounding whitespace so "  Atención " equals "atencion".

    NFKD also folds compatibility forms (full-width letters, ligatures). Dropping combining
    marks means Cyrillic "й" compares equal to "и" and emoji variation selectors are ignored:
    the price of matching answers typed on any keyboard.
    """
    decomposed = unicodedata.normalize("NFKD", text.strip())
    # combining() rather than the Mn category: it drops Latin, Greek and Cyrillic accents
    # and Arabic vowel marks but keeps Devanagari vowel signs, which change the word.
    stripped = "".join(
        char for char in decomposed if not unicodedata.combining(char) and char not in _VARIATION_SELECTORS
    )
    return stripped.casefold()


def _exists(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    if isinstance(value, list | tuple | set | dict):
        return bool(value)
    return True


def _blank(value: Any) -> bool:
    """Missing for ordering operators: an unanswered question may leave "" behind."""
    return value is None or (isinstance(value, str) and not value.strip())


def _eq(actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, list | tuple | set):
        # A list field (contact.tags) "equals" a value when it holds it.
        return any(_eq(item, expected) for item in actual)
    return _scalar_eq(actual, expected)


def _scalar_eq(actual: Any, expected: Any) -> bool:
    if expected is None:
        return False
    if isinstance(actual, bool) or isinstance(expected, bool):
        # Checked before numbers because bool is an int: True must not equal 1. Var values
        # may have been stored as text, hence "true"/"false".
        return _bool(actual) is not None and _bool(actual) == _bool(expected)
    if _is_number(actual) or _is_number(expected):
        # Only when one side is a real number: two texts like "007" and "7" stay text, so
        # phone numbers and codes keep their leading zeros.
        left, right = _number(actual), _number(expected)
        return left is not None and right is not None and left == right
    if isinstance(actual, date) or isinstance(expected, date):
        left_dt, right_dt = _datetime(actual), _datetime(expected)
        return left_dt is not None and right_dt is not None and left_dt == right_dt
    if isinstance(actual, str) and isinstance(expected, str):
        return normalize_text(actual) == normalize_text(expected)
    return bool(actual == expected)


def _contains(field: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, list | tuple | set):
        return _eq(list(actual), expected)
    if isinstance(actual, str) or _is_number(actual):
        return normalize_text(_text(expected)) in normalize_text(_text(actual))
    raise ConditionError(f"{field} is {_kind(actual)}, and contains only works on text or lists")


def _compare(field: str, op: str, actual: Any, expected: Any) -> bool:
    if _blank(actual):
        return False
    left_num, right_num = _number(actual), _number(expected)
    if left_num is not None and right_num is not None:
        return left_num > right_num if op == "gt" else left_num < right_num
    left_dt, right_dt = _datetime(actual), _datetime(expected)
    if left_dt is not None and right_dt is not None:
        return left_dt > right_dt if op == "gt" else left_dt < right_dt
    raise ConditionError(
        f"{field} is {_show(actual)} and the condition value is {_show(expected)}: "
        f"{op} compares two numbers or two dates"
    )


def _older_than(field: str, actual: Any, expected: Any, snapshot: Mapping[str, Any]) -> bool:
    if _blank(actual):
        # "No outgoing message yet" is not "an old outgoing message".
        return False
    seconds = _number(expected)
    if seconds is None:  # pragma: no cover - validate_condition has already refused it
        raise ConditionError(f"{field} older_than needs a number of seconds, not {_show(expected)}")
    moment = _datetime(actual)
    if moment is None:
        raise ConditionError(f"{field} is {_show(actual)}, not a date and time, so older_than cannot apply")
    now = _datetime(snapshot.get("now"))
    if now is None:
        raise ConditionError("the snapshot has no current time ('now'), so older_than cannot be evaluated")
    return Decimal(str((now - moment).total_seconds())) > seconds


def _options(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return list(value)
    raise ConditionError(f"in needs a list or a comma-separated text, not {_show(value)}")


# --- Coercions --------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | Decimal | bool | date)


def _number(value: Any) -> Decimal | None:
    """A Decimal for numbers and numeric text (so 0.1 + 0.2 style float noise can't bite)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value)) if value == value and abs(value) != float("inf") else None
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip()):
        try:
            return Decimal(value.strip())
        except InvalidOperation:  # pragma: no cover - the regex admits only valid literals
            return None
    return None


def _datetime(value: Any) -> datetime | None:
    """An aware datetime from a datetime, a date or an ISO-8601 text; naive means UTC.

    Var values come from JSON, so dates arrive as text; a bare date is its midnight UTC.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip() and not _NUMBER_RE.fullmatch(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(normalize_text(value))
    return None


def _text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _kind(value: Any) -> str:
    if isinstance(value, datetime | date):
        return "a date"
    if isinstance(value, dict):
        return "an object"
    return f"{type(value).__name__} {_show(value)}"


def _show(value: Any) -> str:
    """A short, quoted rendering of a value for messages; None reads as "missing"."""
    if value is None:
        return "missing"
    if isinstance(value, datetime | date):
        value = value.isoformat()
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _EXPLAIN_MAX else text[: _EXPLAIN_MAX - 1] + "…"
