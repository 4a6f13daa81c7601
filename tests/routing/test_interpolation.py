"""Placeholders in workflow text, escaped for where they go: no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from routing.interpolation import placeholders, render, render_data, validate_template

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_snapshot(**var: Any) -> dict[str, Any]:
    return {
        "var": var,
        "contact": {"name": "Zoë", "email": "zoe@example.com", "tags": ["VIP", "Éxito"], "plan": None},
        "conversation": {"id": 42, "status": "open", "channel": "Web chat", "opened_at": NOW},
        "now": NOW,
    }


# --- render: values --------------------------------------------------------------------


def test_it_fills_placeholders_with_or_without_spaces() -> None:
    text = render(
        "Hi {{ contact.name }}, ticket #{{conversation.id}} is with {{var.team}}.", make_snapshot(team="Sales")
    )

    assert text == "Hi Zoë, ticket #42 is with Sales."


def test_missing_values_render_as_nothing() -> None:
    assert render("[{{var.never_asked}}][{{contact.plan}}]", make_snapshot()) == "[][]"


def test_unknown_namespaces_render_as_nothing_instead_of_failing() -> None:
    assert render("a{{ticket.id}}b{{nonsense}}c", make_snapshot()) == "abc"


def test_values_are_formatted_for_reading() -> None:
    snapshot = make_snapshot(when=NOW, tags=["a", 1, None], count=3, ratio=0.5, ok=True)

    assert render("{{var.when}}", snapshot) == "2026-03-02T12:00:00+00:00"
    assert render("{{contact.tags}}", snapshot) == "VIP, Éxito"
    assert render("{{var.tags}}", snapshot) == "a, 1, "
    assert render("{{var.count}} {{var.ratio}} {{var.ok}}", snapshot) == "3 0.5 True"


def test_non_latin_and_emoji_values_are_kept_as_written() -> None:
    text = render("{{var.team}} {{var.mood}}", make_snapshot(team="Поддержка", mood="👩‍💻🔥"))

    assert text == "Поддержка 👩‍💻🔥"


def test_text_mode_leaves_values_unescaped() -> None:
    assert render("{{var.x}}", make_snapshot(x="<b>&\n"), escape="text") == "<b>&\n"


def test_a_value_that_looks_like_a_placeholder_is_not_rendered_again() -> None:
    snapshot = make_snapshot(x="{{contact.email}}")

    assert render("{{var.x}}", snapshot) == "{{contact.email}}"


def test_triple_braces_render_the_inner_placeholder() -> None:
    assert render("{{{var.x}}}", make_snapshot(x="y")) == "{y}"


def test_an_unknown_escape_is_refused() -> None:
    with pytest.raises(ValueError, match="sql"):
        render("{{var.x}}", make_snapshot(x="y"), escape="sql")


# --- render: escape modes ----------------------------------------------------------------


def test_html_escape_neutralises_markup_in_values_only() -> None:
    text = render("<p>{{var.name}}</p>", make_snapshot(name='<script>alert("x")</script> & Ко'), escape="html")

    assert text == "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Ко</p>"


def test_url_escape_cannot_add_query_parameters() -> None:
    url = render(
        "https://crm.example.com/lookup?email={{contact.email}}&q={{var.q}}",
        make_snapshot(q="x&admin=1#frag"),
        escape="url",
    )

    query = parse_qs(urlsplit(url).query)
    assert query == {"email": ["zoe@example.com"], "q": ["x&admin=1#frag"]}
    assert urlsplit(url).fragment == ""


def test_url_escape_cannot_change_the_path() -> None:
    url = render("https://crm.example.com/contacts/{{var.id}}", make_snapshot(id="../admin/delete?all=1"), escape="url")

    assert url == "https://crm.example.com/contacts/..%2Fadmin%2Fdelete%3Fall%3D1"


def test_url_escape_encodes_non_latin_and_emoji_as_utf8() -> None:
    url = render("https://x.test/?q={{var.q}}", make_snapshot(q="Поддержка 🔥"), escape="url")

    assert parse_qs(urlsplit(url).query) == {"q": ["Поддержка 🔥"]}


def test_json_escape_keeps_the_body_valid_and_cannot_add_keys() -> None:
    body = render(
        '{"name": "{{contact.name}}", "note": "{{var.note}}"}',
        make_snapshot(note='hi", "admin": true, "x": "\n\\ 🔥'),
        escape="json",
    )

    assert json.loads(body) == {"name": "Zoë", "note": 'hi", "admin": true, "x": "\n\\ 🔥'}


def test_header_escape_strips_newlines() -> None:
    value = render("Bearer {{var.token}}", make_snapshot(token="abc\r\nX-Admin: 1\n"), escape="header")

    assert value == "Bearer abcX-Admin: 1"


def test_header_escape_strips_other_control_and_line_separator_characters() -> None:
    value = render("{{var.v}}", make_snapshot(v="a\x00b\tc\x85d\u2028e\u2029f\x7fg"), escape="header")

    assert value == "abcdefg"


def test_header_escape_keeps_ordinary_unicode() -> None:
    assert render("{{var.v}}", make_snapshot(v="Zoë 🔥"), escape="header") == "Zoë 🔥"


def test_escaping_does_not_touch_the_templates_own_text() -> None:
    snapshot = make_snapshot(x="a b")

    assert render("<b>{{var.x}}</b>", snapshot, escape="html") == "<b>a b</b>"
    assert render("/a b/{{var.x}}", snapshot, escape="url") == "/a b/a%20b"
    assert render('"\n{{var.x}}', snapshot, escape="json") == '"\na b'
    assert render("X\r\n{{var.x}}", snapshot, escape="header") == "X\r\na b"


# --- render_data -------------------------------------------------------------------------


def test_render_data_keeps_the_type_of_a_lone_placeholder() -> None:
    snapshot = make_snapshot(age=30, vip=True, when=NOW, items=[1, NOW], nothing=None)
    body = {
        "age": "{{var.age}}",
        "vip": "{{ var.vip }}",
        "when": "{{var.when}}",
        "items": "{{var.items}}",
        "tags": "{{contact.tags}}",
        "nothing": "{{var.nothing}}",
        "unknown": "{{ticket.id}}",
    }

    assert render_data(body, snapshot) == {
        "age": 30,
        "vip": True,
        "when": "2026-03-02T12:00:00+00:00",
        "items": [1, "2026-03-02T12:00:00+00:00"],
        "tags": ["VIP", "Éxito"],
        "nothing": None,
        "unknown": None,
    }


def test_render_data_renders_mixed_strings_as_text_and_leaves_quoting_to_the_encoder() -> None:
    snapshot = make_snapshot(note='say "hi"\n')

    rendered = render_data({"text": "Note: {{var.note}}", "n": 1, "flag": False, "none": None}, snapshot)

    assert rendered == {"text": 'Note: say "hi"\n', "n": 1, "flag": False, "none": None}
    assert json.loads(json.dumps(rendered)) == rendered


def test_render_data_walks_nested_lists_and_renders_keys() -> None:
    snapshot = make_snapshot(field="team", team="Поддержка")
    body = {"fields": [{"{{var.field}}": "{{var.team}}"}, "#{{conversation.id}}", 7]}

    assert render_data(body, snapshot) == {"fields": [{"team": "Поддержка"}, "#42", 7]}


def test_render_data_leaves_non_string_scalars_alone() -> None:
    assert render_data(3.5, make_snapshot()) == 3.5
    assert render_data(None, make_snapshot()) is None


# --- placeholders and validate_template ------------------------------------------------


def test_placeholders_lists_each_field_once_in_order() -> None:
    template = "{{var.team}} {{ contact.name }} {{var.team}} {{conversation.id}}"

    assert placeholders(template) == ["var.team", "contact.name", "conversation.id"]


def test_placeholders_of_plain_text_is_empty() -> None:
    assert placeholders("Hello, no variables here { } }") == []


def test_a_well_formed_template_has_no_errors() -> None:
    template = "Hi {{ contact.name }}, {{var.team}} / {{conversation.id}} {single} braces"

    assert validate_template(template) == []


def test_validation_names_an_unknown_namespace() -> None:
    errors = validate_template("Hello {{ticket.id}}")

    assert len(errors) == 1
    assert "{{ticket.id}}" in errors[0]
    assert 'unknown namespace "ticket"' in errors[0]


def test_validation_refuses_a_placeholder_without_a_namespace() -> None:
    assert validate_template("Hello {{name}}")


def test_validation_refuses_an_empty_placeholder() -> None:
    assert any("empty placeholder" in error for error in validate_template("Hello {{ }}"))


def test_validation_refuses_a_space_in_the_field_name() -> None:
    assert any("space" in error for error in validate_template("Hello {{contact.first name}}"))


def test_validation_reports_an_unclosed_placeholder() -> None:
    errors = validate_template("Hi {{var.x}}, your team is {{var.team")

    assert len(errors) == 1
    assert 'without a closing "}}"' in errors[0]
    assert "{{var.team" in errors[0]


def test_validation_reports_a_closing_without_an_opening() -> None:
    errors = validate_template("Hi var.x}}")

    assert errors == ['"}}" without an opening "{{" near "Hi var.x}}"']


def test_validation_reports_nested_placeholders() -> None:
    assert validate_template("{{ {{var.x}} }}")


def test_validation_refuses_a_template_that_is_not_text() -> None:
    assert validate_template(["{{var.x}}"])  # type: ignore[arg-type]
