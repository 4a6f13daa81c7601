"""A bounded JSON parser: no module here may import DRF views (settings load it early)."""

from __future__ import annotations

import math
from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# Workflow definitions are the deepest documents we take; nothing legitimate comes close.
MAX_JSON_DEPTH = 64


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise ParseError(_("Text may not contain NUL characters."))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate such as "\ud800"
        raise ParseError(_("Text is not valid Unicode.")) from exc


def _check_json(value: Any) -> None:
    """Refuse what a database would choke on later: NUL characters, lone surrogates, absurd
    nesting, and numbers too large for a float (``1e999`` parses as infinity, which no JSON
    column can store)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ParseError(_("JSON nested more than %(n)d levels deep.") % {"n": MAX_JSON_DEPTH})
        if isinstance(item, float):
            if not math.isfinite(item):
                raise ParseError(_("Number out of range."))
        elif isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, bounded.

    Size: DRF reads a JSON body through ``HttpRequest.body``, which enforces
    ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``RequestDataTooBig``, answered 413 by the handler).
    Depth and NUL characters are checked here, so neither reaches a JSONField or Postgres.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("JSON nested too deeply.")) from exc
        _check_json(data)
        return data
