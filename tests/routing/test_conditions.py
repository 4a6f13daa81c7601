"""Workflow conditions over a plain snapshot: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from routing.conditions import (
    NAMESPACES,
    OPERATORS,
    ConditionError,
    evaluate,
    evaluate_group,
    explain,
    resolve,
    validate_condition,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def make_snapshot(**var: Any) -> dict[str, Any]:
    return {
        "var": var,
        "contact": {
            "name": "Zoë Martínez",
            "email": "zoe@example.com",
            "phone": "+34600000000",
            "language": "es",
            "country": "ES",
            "external_id": "007",
            "tags": ["VIP", "Éxito", "🔥 hot"],
            "plan": "Gold",
        },
        "conversation": {
            "id": 42,
            "status": "open",
            "source": "contact",
            "channel": "Web chat",
            "team": None,
            "assignee": None,
            "opened_at": NOW - timedelta(hours=2),
            "last_incoming_at": NOW - timedelta(minutes=10),
            "last_outgoing_at": None,
        },
        "now": NOW,
    }


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"field": field, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


def test_the_contract_lists_every_operator_and_namespace() -> None:
    assert {"eq", "ne", "contains", "in", "exists", "not_exists", "gt", "lt", "older_than"} == OPERATORS
    assert {"var", "contact", "conversation"} == NAMESPACES


# --- resolve ---------------------------------------------------------------------------


def test_resolve_reads_each_namespace() -> None:
    snapshot = make_snapshot(team="Sales")

    assert resolve("var.team", snapshot) == "Sales"
    assert resolve("contact.plan", snapshot) == "Gold"
    assert resolve("conversation.channel", snapshot) == "Web chat"


def test_resolve_treats_missing_keys_and_namespaces_as_none() -> None:
    assert resolve("var.never_asked", make_snapshot()) is None
    assert resolve("contact.email", {"var": {}}) is None


def test_resolve_splits_on_the_first_dot_only() -> None:
    assert resolve("var.order.id", make_snapshot(**{"order.id": "A-1"})) == "A-1"


@pytest.mark.parametrize("field", ["team", "user.name", "var.", "", "Var.team"])
def test_resolve_refuses_a_field_without_a_known_namespace(field: str) -> None:
    with pytest.raises(ConditionError):
        resolve(field, make_snapshot())


# --- eq / ne ---------------------------------------------------------------------------


def test_eq_matches_answers_regardless_of_case_and_accents() -> None:
    snapshot = make_snapshot(team="  atencion al CLIENTE ")

    assert evaluate(cond("var.team", "eq", "Atención al cliente"), snapshot)


def test_eq_matches_non_latin_scripts_case_insensitively() -> None:
    assert evaluate(cond("var.team", "eq", "поддержка"), make_snapshot(team="Поддержка"))
    assert evaluate(cond("var.city", "eq", "ΑΘΗΝΑ"), make_snapshot(city="Αθήνα"))
    assert evaluate(cond("var.city", "eq", "東京"), make_snapshot(city="東京"))
    assert not evaluate(cond("var.city", "eq", "大阪"), make_snapshot(city="東京"))


def test_eq_keeps_vowel_signs_that_change_the_word() -> None:
    # Devanagari vowel signs are not accents: "कुछ" (something) is not "कछ".
    assert not evaluate(cond("var.word", "eq", "कछ"), make_snapshot(word="कुछ"))
    assert evaluate(cond("var.word", "eq", "कुछ"), make_snapshot(word="कुछ"))


def test_eq_matches_emoji_answers() -> None:
    assert evaluate(cond("var.mood", "eq", "👍"), make_snapshot(mood=" 👍 "))
    # The heart with and without its emoji variation selector is the same answer.
    assert evaluate(cond("var.mood", "eq", "❤"), make_snapshot(mood="❤️"))
    assert not evaluate(cond("var.mood", "eq", "👎"), make_snapshot(mood="👍"))


def test_eq_does_not_match_a_different_answer() -> None:
    assert not evaluate(cond("var.team", "eq", "Sales"), make_snapshot(team="Support"))


def test_eq_compares_a_numeric_text_with_a_number_numerically() -> None:
    assert evaluate(cond("var.age", "eq", 18), make_snapshot(age="18.0"))
    assert evaluate(cond("var.age", "eq", "18"), make_snapshot(age=18))
    assert evaluate(cond("var.price", "eq", 9.5), make_snapshot(price=" 9.50 "))
    assert not evaluate(cond("var.age", "eq", 18), make_snapshot(age="eighteen"))


def test_eq_keeps_two_texts_as_text_so_leading_zeros_matter() -> None:
    assert not evaluate(cond("contact.external_id", "eq", "7"), make_snapshot())
    assert evaluate(cond("contact.external_id", "eq", "007"), make_snapshot())


def test_eq_compares_booleans_with_booleans_and_their_text() -> None:
    assert evaluate(cond("var.consent", "eq", True), make_snapshot(consent=True))
    assert evaluate(cond("var.consent", "eq", "TRUE"), make_snapshot(consent=True))
    assert evaluate(cond("var.consent", "eq", False), make_snapshot(consent="false"))
    assert not evaluate(cond("var.consent", "eq", 1), make_snapshot(consent=True))


def test_eq_on_a_tag_list_means_the_contact_has_the_tag() -> None:
    assert evaluate(cond("contact.tags", "eq", "vip"), make_snapshot())
    assert evaluate(cond("contact.tags", "eq", "exito"), make_snapshot())
    assert not evaluate(cond("contact.tags", "eq", "churned"), make_snapshot())


def test_eq_compares_a_datetime_with_an_iso_text_chronologically() -> None:
    snapshot = make_snapshot()
    opened = (NOW - timedelta(hours=2)).astimezone(UTC)

    assert evaluate(cond("conversation.opened_at", "eq", opened.isoformat().replace("+00:00", "Z")), snapshot)


def test_eq_is_false_when_the_value_is_missing() -> None:
    assert not evaluate(cond("var.team", "eq", "Sales"), make_snapshot())


def test_ne_is_the_opposite_of_eq() -> None:
    assert evaluate(cond("var.team", "ne", "Sales"), make_snapshot(team="Support"))
    assert not evaluate(cond("var.team", "ne", "support"), make_snapshot(team="Support"))
    assert not evaluate(cond("contact.tags", "ne", "VIP"), make_snapshot())


def test_ne_is_true_when_the_value_is_missing() -> None:
    assert evaluate(cond("var.team", "ne", "Sales"), make_snapshot())
    assert evaluate(cond("conversation.assignee", "ne", "alice"), make_snapshot())


# --- contains --------------------------------------------------------------------------


def test_contains_finds_a_substring_ignoring_case_and_accents() -> None:
    snapshot = make_snapshot(message="Quiero hablar con FACTURACIÓN por favor")

    assert evaluate(cond("var.message", "contains", "facturacion"), snapshot)
    assert not evaluate(cond("var.message", "contains", "ventas"), snapshot)


def test_contains_works_with_cyrillic_and_emoji() -> None:
    assert evaluate(cond("var.message", "contains", "ПОДДЕРЖКА"), make_snapshot(message="нужна поддержка 🆘"))
    assert evaluate(cond("var.message", "contains", "🆘"), make_snapshot(message="нужна поддержка 🆘"))


def test_contains_on_a_list_checks_membership() -> None:
    assert evaluate(cond("contact.tags", "contains", "🔥 HOT"), make_snapshot())
    # Membership, not a substring of some element.
    assert not evaluate(cond("contact.tags", "contains", "VI"), make_snapshot())


def test_contains_is_false_when_the_value_is_missing() -> None:
    assert not evaluate(cond("var.message", "contains", "help"), make_snapshot())


def test_contains_on_a_date_is_an_error_not_a_silent_no_match() -> None:
    with pytest.raises(ConditionError, match=r"conversation\.opened_at"):
        evaluate(cond("conversation.opened_at", "contains", "2026"), make_snapshot())


# --- in --------------------------------------------------------------------------------


def test_in_matches_any_listed_value_like_eq() -> None:
    assert evaluate(cond("contact.country", "in", ["fr", "es", "pt"]), make_snapshot())
    assert not evaluate(cond("contact.country", "in", ["fr", "de"]), make_snapshot())


def test_in_accepts_a_comma_separated_text() -> None:
    assert evaluate(cond("var.team", "in", "Sales, Поддержка ,Billing"), make_snapshot(team="поддержка"))


def test_in_with_numbers_compares_numerically() -> None:
    assert evaluate(cond("var.rating", "in", [4, 5]), make_snapshot(rating="5"))


def test_in_on_a_tag_list_matches_when_any_tag_is_listed() -> None:
    assert evaluate(cond("contact.tags", "in", ["churned", "vip"]), make_snapshot())
    assert not evaluate(cond("contact.tags", "in", ["churned"]), make_snapshot())


def test_in_is_false_when_the_value_is_missing() -> None:
    assert not evaluate(cond("var.team", "in", ["Sales"]), make_snapshot())


# --- exists / not_exists ---------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "   ", [], {}])
def test_empty_values_do_not_exist(value: Any) -> None:
    snapshot = make_snapshot(answer=value)

    assert not evaluate(cond("var.answer", "exists"), snapshot)
    assert evaluate(cond("var.answer", "not_exists"), snapshot)


@pytest.mark.parametrize("value", ["x", 0, False, ["a"], {"a": 1}, NOW])
def test_falsy_but_real_values_exist(value: Any) -> None:
    snapshot = make_snapshot(answer=value)

    assert evaluate(cond("var.answer", "exists"), snapshot)
    assert not evaluate(cond("var.answer", "not_exists"), snapshot)


def test_exists_ignores_any_value_given() -> None:
    assert evaluate({"field": "contact.email", "op": "exists", "value": "whatever"}, make_snapshot())


def test_not_exists_is_true_for_an_unassigned_conversation() -> None:
    assert evaluate(cond("conversation.assignee", "not_exists"), make_snapshot())


# --- gt / lt ---------------------------------------------------------------------------


def test_gt_and_lt_compare_numbers() -> None:
    snapshot = make_snapshot(age=21)

    assert evaluate(cond("var.age", "gt", 18), snapshot)
    assert not evaluate(cond("var.age", "lt", 18), snapshot)
    assert not evaluate(cond("var.age", "gt", 21), snapshot)


def test_gt_compares_numeric_text_as_numbers_not_alphabetically() -> None:
    # Alphabetically "9" > "10"; numerically it is not.
    assert not evaluate(cond("var.amount", "gt", "10"), make_snapshot(amount="9"))
    assert evaluate(cond("var.amount", "lt", 10), make_snapshot(amount="9.5"))


def test_gt_and_lt_compare_dates_chronologically() -> None:
    snapshot = make_snapshot(birthday="2000-05-17")

    assert evaluate(cond("var.birthday", "lt", "2001-01-01"), snapshot)
    assert evaluate(cond("var.birthday", "gt", "2000-05-16T23:59:59+00:00"), snapshot)
    assert evaluate(cond("conversation.opened_at", "gt", "2026-03-02T09:00:00Z"), snapshot)
    assert evaluate(cond("conversation.opened_at", "lt", "2026-03-02T12:00:00+03:00"), snapshot) is False


def test_gt_and_lt_accept_date_objects() -> None:
    assert evaluate(cond("var.due", "lt", "2026-04-01"), make_snapshot(due=date(2026, 3, 31)))


def test_gt_is_false_when_the_value_is_missing_or_blank() -> None:
    assert not evaluate(cond("var.age", "gt", 18), make_snapshot())
    assert not evaluate(cond("var.age", "lt", 18), make_snapshot(age=""))


def test_gt_on_text_that_is_not_a_number_is_an_error() -> None:
    with pytest.raises(ConditionError, match=r'var\.age.*"eighteen".*gt'):
        evaluate(cond("var.age", "gt", 18), make_snapshot(age="eighteen"))


def test_lt_between_a_number_and_a_date_is_an_error() -> None:
    with pytest.raises(ConditionError, match="lt compares two numbers or two dates"):
        evaluate(cond("conversation.opened_at", "lt", 5), make_snapshot())


# --- older_than ------------------------------------------------------------------------


def test_older_than_is_true_once_the_time_has_passed() -> None:
    snapshot = make_snapshot()

    assert evaluate(cond("conversation.last_incoming_at", "older_than", 300), snapshot)
    assert not evaluate(cond("conversation.last_incoming_at", "older_than", 600), snapshot)
    assert not evaluate(cond("conversation.last_incoming_at", "older_than", "3600"), snapshot)


def test_older_than_is_false_when_no_outgoing_message() -> None:
    assert not evaluate(cond("conversation.last_outgoing_at", "older_than", 60), make_snapshot())


def test_older_than_reads_iso_text_from_variables() -> None:
    snapshot = make_snapshot(promised_at="2026-03-01T12:00:00Z")

    assert evaluate(cond("var.promised_at", "older_than", 86_000.5), snapshot)
    assert not evaluate(cond("var.promised_at", "older_than", 86_400), snapshot)


def test_older_than_on_a_value_that_is_not_a_time_is_an_error() -> None:
    with pytest.raises(ConditionError, match=r"conversation\.status"):
        evaluate(cond("conversation.status", "older_than", 60), make_snapshot())


def test_older_than_without_a_current_time_is_an_error() -> None:
    snapshot = make_snapshot()
    del snapshot["now"]

    with pytest.raises(ConditionError, match="now"):
        evaluate(cond("conversation.last_incoming_at", "older_than", 60), snapshot)


# --- errors are raised, never read as "no match" ------------------------------------------


def test_an_unknown_operator_is_an_error_naming_it() -> None:
    with pytest.raises(ConditionError, match="startswith"):
        evaluate(cond("var.team", "startswith", "S"), make_snapshot(team="Sales"))


def test_an_unknown_namespace_is_an_error_naming_it() -> None:
    with pytest.raises(ConditionError, match="ticket"):
        evaluate(cond("ticket.priority", "eq", "high"), make_snapshot())


def test_a_non_numeric_older_than_is_an_error() -> None:
    with pytest.raises(ConditionError, match="older_than"):
        evaluate(cond("conversation.last_incoming_at", "older_than", "an hour"), make_snapshot())


def test_a_condition_missing_its_value_is_an_error() -> None:
    with pytest.raises(ConditionError, match="eq needs a value"):
        evaluate({"field": "var.team", "op": "eq"}, make_snapshot(team="Sales"))


# --- groups ----------------------------------------------------------------------------


def test_match_all_needs_every_condition() -> None:
    snapshot = make_snapshot(team="Sales")
    sales = cond("var.team", "eq", "Sales")
    vip = cond("contact.tags", "eq", "VIP")
    french = cond("contact.country", "eq", "FR")

    assert evaluate_group("all", [sales, vip], snapshot)
    assert not evaluate_group("all", [sales, vip, french], snapshot)


def test_match_any_needs_one_condition() -> None:
    snapshot = make_snapshot(team="Sales")

    assert evaluate_group("any", [cond("contact.country", "eq", "FR"), cond("var.team", "eq", "Sales")], snapshot)
    assert not evaluate_group("any", [cond("contact.country", "eq", "FR")], snapshot)


def test_an_empty_all_matches_and_an_empty_any_does_not() -> None:
    assert evaluate_group("all", [], make_snapshot())
    assert not evaluate_group("any", [], make_snapshot())


def test_an_unknown_match_mode_is_an_error() -> None:
    with pytest.raises(ConditionError, match="most"):
        evaluate_group("most", [], make_snapshot())
    with pytest.raises(ConditionError, match="all"):
        evaluate_group(["all"], [], make_snapshot())  # type: ignore[arg-type]


def test_a_broken_condition_in_a_group_is_an_error() -> None:
    with pytest.raises(ConditionError, match="ticket"):
        evaluate_group("all", [cond("var.team", "exists"), cond("ticket.x", "exists")], make_snapshot(team="S"))


# --- explain ---------------------------------------------------------------------------


def test_explain_shows_the_value_seen_and_the_result() -> None:
    line = explain(cond("var.team", "eq", "Sales"), make_snapshot(team="Support"))

    assert line == 'var.team ("Support") eq "Sales": false'


def test_explain_says_missing_for_absent_values_and_omits_value_for_exists() -> None:
    assert explain(cond("var.team", "exists"), make_snapshot()) == "var.team (missing) exists: false"


def test_explain_keeps_non_latin_text_readable() -> None:
    line = explain(cond("var.team", "eq", "поддержка"), make_snapshot(team="Поддержка"))

    assert line == 'var.team ("Поддержка") eq "поддержка": true'


def test_explain_reports_an_error_instead_of_raising() -> None:
    line = explain(cond("var.age", "gt", 18), make_snapshot(age="eighteen"))

    assert line.startswith('var.age ("eighteen") gt 18: error: ')


def test_explain_shortens_long_values() -> None:
    line = explain(cond("var.note", "exists"), make_snapshot(note="x" * 500))

    assert len(line) < 100


# --- validate_condition ------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        cond("var.team", "eq", "Sales"),
        cond("contact.tags", "contains", "vip"),
        cond("contact.country", "in", ["ES", "FR"]),
        cond("contact.country", "in", "ES,FR"),
        cond("contact.email", "exists"),
        cond("contact.email", "not_exists"),
        cond("var.age", "gt", 18),
        cond("var.age", "lt", "18.5"),
        cond("var.birthday", "lt", "2000-01-01"),
        cond("conversation.last_outgoing_at", "older_than", 3600),
        cond("conversation.last_outgoing_at", "older_than", "90"),
    ],
)
def test_valid_conditions_have_no_errors(condition: dict[str, Any]) -> None:
    assert validate_condition(condition) == []


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("var.team eq Sales", "must be an object"),
        ({"op": "eq", "value": "x"}, "has no field"),
        ({"field": "team", "op": "eq", "value": "x"}, "namespace.name"),
        ({"field": "ticket.team", "op": "eq", "value": "x"}, 'unknown namespace "ticket"'),
        ({"field": "var.team", "value": "x"}, 'condition on "var.team" has no op'),
        ({"field": "var.team", "op": "like", "value": "x"}, 'unknown operator "like"'),
        ({"field": "var.team", "op": ["eq"], "value": "x"}, 'unknown operator ["eq"]'),
        ({"field": "var.team", "op": "eq"}, "eq needs a value"),
        ({"field": "var.team", "op": "in", "value": 5}, "in needs a list or a comma-separated text"),
        ({"field": "var.team", "op": "in", "value": []}, "at least one value"),
        ({"field": "var.team", "op": "in", "value": [["a"]]}, "plain values"),
        ({"field": "var.team", "op": "eq", "value": ["a", "b"]}, "use the in operator"),
        ({"field": "var.age", "op": "gt", "value": "adult"}, "gt needs a number or an ISO date"),
        ({"field": "var.age", "op": "lt", "value": True}, "lt needs a number or an ISO date"),
        ({"field": "var.at", "op": "older_than", "value": "2026-01-01"}, "number of seconds"),
        ({"field": "var.at", "op": "older_than", "value": -5}, "positive number"),
    ],
)
def test_invalid_conditions_are_explained(condition: Any, expected: str) -> None:
    errors = validate_condition(condition)

    assert any(expected in error for error in errors), errors


def test_validation_reports_field_and_operator_problems_together() -> None:
    errors = validate_condition({"field": "ticket.x", "op": "like"})

    assert len(errors) == 2
