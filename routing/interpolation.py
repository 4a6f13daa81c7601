"""Placeholders in workflow text: ``{{var.team}}``, ``{{ contact.name }}``, ``{{conversation.id}}``.

Rendering never raises on data: an unknown namespace or a missing value renders as "" so a
customer never sees a half-sent message because a variable was empty. Broken templates are
refused earlier, at publish time, by :func:`validate_template`.

Only the inserted values are escaped, for the place they go (HTML, URL, JSON, header); the
template's own text is the admin's and is left as written.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from typing import Any
from urllib.parse import quote

from django.utils.html import escape as html_escape

from routing.conditions import ConditionError, resolve, split_field

# The innermost "{{ ... }}" without braces inside, so "{{{var.x}}}" renders "{value}".
PLACEHOLDER_RE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def _strip_controls(text: str) -> str:
    # Cc covers CR, LF, NUL, tab and NEL; Zl/Zp are the Unicode line and paragraph
    # separators, which some HTTP stacks also treat as line breaks.
    return "".join(char for char in text if unicodedata.category(char) not in ("Cc", "Zl", "Zp"))


ESCAPES: dict[str, Callable[[str], str]] = {
    "text": lambda text: text,
    "html": lambda text: str(html_escape(text)),
    "url": lambda text: quote(text, safe=""),
    "json": lambda text: json.dumps(text)[1:-1],
    "header": _strip_controls,
}


def render(template: str, snapshot: Mapping[str, Any], escape: str = "text") -> str:
    """``template`` with each placeholder replaced by its value, escaped for ``escape``.

    ``escape`` is one of "text" (as is: plain messages), "html", "url" (a whole path segment
    or query value: "/", "&", "?" and "#" are encoded), "json" (inside a JSON string literal)
    or "header" (control characters removed, so a value cannot start a new header).
    """
    try:
        escaper = ESCAPES[escape]
    except KeyError:
        raise ValueError(f"unknown escape {escape!r}; use one of {', '.join(ESCAPES)}") from None
    return PLACEHOLDER_RE.sub(lambda match: escaper(to_text(_lookup(match.group(1), snapshot))), template)


def render_data(obj: Any, snapshot: Mapping[str, Any]) -> Any:
    """Render a JSON-like structure (an HTTP body) recursively.

    A string that is exactly one placeholder becomes the raw value, so ``"{{var.age}}"``
    stays a number and a list stays a list (datetimes become ISO text). Other strings, dict
    keys included, are rendered as text: the caller JSON-encodes the whole body afterwards,
    which is where quoting happens.
    """
    if isinstance(obj, str):
        match = PLACEHOLDER_RE.fullmatch(obj)
        if match:
            return to_json_value(_lookup(match.group(1), snapshot))
        return render(obj, snapshot)
    if isinstance(obj, Mapping):
        return {
            (render(key, snapshot) if isinstance(key, str) else key): render_data(value, snapshot)
            for key, value in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [render_data(item, snapshot) for item in obj]
    return obj


def placeholders(template: str) -> list[str]:
    """The field paths used in ``template``, in order of first use, without duplicates."""
    if not isinstance(template, str):
        return []
    return list(dict.fromkeys(match.group(1) for match in PLACEHOLDER_RE.finditer(template)))


def validate_template(template: str) -> list[str]:
    """Publish-time errors: unknown namespaces, empty placeholders, unbalanced braces."""
    if not isinstance(template, str):
        return [f"text must be a string, not {type(template).__name__}"]
    errors: list[str] = []
    for path in placeholders(template):
        if not path:
            errors.append("empty placeholder {{}}; write the field, like {{var.name}}")
            continue
        if any(char.isspace() for char in path):
            errors.append(f"placeholder {{{{{path}}}}} has a space in its field name")
            continue
        try:
            split_field(path)
        except ConditionError as error:
            errors.append(f"placeholder {{{{{path}}}}}: {error}")

    # What is left once the well-formed placeholders are taken out must hold no braces pair,
    # otherwise the admin meant a placeholder and it would go out to customers verbatim.
    rest = PLACEHOLDER_RE.sub("", template)
    if "{{" in rest:
        errors.append(f'"{{{{" without a closing "}}}}" near {_near(rest, rest.index("{{"))}')
    if "}}" in rest:
        errors.append(f'"}}}}" without an opening "{{{{" near {_near(rest, rest.index("}}"))}')
    return errors


def to_text(value: Any) -> str:
    """How a value reads in text: None is "", datetimes are ISO, lists are comma-joined."""
    if value is None:
        return ""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, list | tuple | set):
        return ", ".join(to_text(item) for item in value)
    if isinstance(value, Mapping):
        return json.dumps(to_json_value(value), ensure_ascii=False)
    return str(value)


def to_json_value(value: Any) -> Any:
    """``value`` made JSON-encodable with its type kept where JSON has one."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_json_value(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _lookup(path: str, snapshot: Mapping[str, Any]) -> Any:
    try:
        return resolve(path, snapshot)
    except ConditionError:
        return None


def _near(text: str, index: int) -> str:
    snippet = text[max(0, index - 10) : index + 20]
    return json.dumps(snippet, ensure_ascii=False)
