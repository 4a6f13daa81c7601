"""Ask the contact a question and wait for a valid answer, with retries and a timeout."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from routing.steps.base import (
    FAILURE,
    RETRY,
    SUCCESS,
    TIMEOUT,
    WAITING,
    Event,
    Outcome,
    Step,
    StepContext,
    ValidationContext,
    Wait,
    require_text,
)

KINDS = ("text", "multiple_choice", "email", "phone", "number", "date")
MAX_RETRIES = 10
MAX_TIMEOUT = 366 * 24 * 3600
MAX_ANSWER_LENGTH = 1000
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y")


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form of an answer: "SÚPPORT!" -> "support"."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = re.findall(r"\w+", stripped.casefold())
    return " ".join(words)


def match_option(answer: str, options: list[str]) -> str | None:
    """The option an answer picks: by number ("2", "2."), by text, or by a single whole-word mention."""
    wanted = normalize(answer)
    if not wanted:
        return None
    if wanted.isdigit():
        index = int(wanted)
        return options[index - 1] if 1 <= index <= len(options) else None
    normalized = [normalize(option) for option in options]
    for option, norm in zip(options, normalized, strict=True):
        if norm == wanted:
            return option
    # "I need technical support please" names exactly one option: take it; two or more is ambiguous.
    padded = f" {wanted} "
    mentioned = [option for option, norm in zip(options, normalized, strict=True) if norm and f" {norm} " in padded]
    return mentioned[0] if len(mentioned) == 1 else None


def parse_answer(kind: str, text: str, *, options: list[str], region: str = "") -> Any:
    """The value of a valid answer; ``ValueError`` with the reason when it is not valid."""
    text = text.strip()
    if not text:
        raise ValueError(_("the answer is empty"))
    if kind == "multiple_choice":
        option = match_option(text, options)
        if option is None:
            raise ValueError(_("'%(answer)s' is none of the options") % {"answer": text[:100]})
        return option
    if kind == "email":
        try:
            validate_email(text)
        except ValidationError as exc:
            raise ValueError(_("'%(answer)s' is not an e-mail address") % {"answer": text[:100]}) from exc
        return text.lower()
    if kind == "phone":
        try:
            number = phonenumbers.parse(text, region.upper() or None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(_("'%(answer)s' is not a phone number") % {"answer": text[:100]}) from exc
        if not phonenumbers.is_valid_number(number):
            raise ValueError(_("'%(answer)s' is not a valid phone number") % {"answer": text[:100]})
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind == "number":
        candidate = text.replace(" ", "").replace(",", ".")
        try:
            value = float(candidate)
        except ValueError as exc:
            raise ValueError(_("'%(answer)s' is not a number") % {"answer": text[:100]}) from exc
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(_("'%(answer)s' is not a number") % {"answer": text[:100]})
        return int(value) if value.is_integer() and "." not in candidate else value
    if kind == "date":
        for fmt in DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
        raise ValueError(_("'%(answer)s' is not a date (use YYYY-MM-DD)") % {"answer": text[:100]})
    if len(text) > MAX_ANSWER_LENGTH:
        return text[:MAX_ANSWER_LENGTH]
    return text


def retry_prompt(kind: str, options: list[str]) -> str:
    if kind == "multiple_choice":
        choices = ", ".join(f"{i}. {option}" for i, option in enumerate(options, start=1))
        return _("Sorry, I didn't understand. Please reply with one of: %(choices)s") % {"choices": choices}
    return {
        "email": _("Sorry, that doesn't look like an e-mail address. Please try again."),
        "phone": _("Sorry, that doesn't look like a phone number. Please include the country code."),
        "number": _("Sorry, please answer with a number."),
        "date": _("Sorry, please answer with a date like %(example)s.") % {"example": date(2026, 12, 24).isoformat()},
    }.get(kind, _("Sorry, please answer the question."))


class AskQuestionStep(Step):
    kind = "ask_question"
    outcomes = (SUCCESS, FAILURE, TIMEOUT)
    keys = frozenset({"text", "kind", "options", "save_as", "retries", "timeout", "retry_text"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        errors = require_text(config, "text")
        kind = config.get("kind", "text")
        if kind not in KINDS:
            errors.append(
                _("Unknown question kind '%(kind)s'; use one of %(kinds)s.") % {"kind": kind, "kinds": ", ".join(KINDS)}
            )
        options = config.get("options")
        if kind == "multiple_choice":
            if not isinstance(options, list) or len(options) < 2:
                errors.append(_("A multiple-choice question needs at least two 'options'."))
            elif not all(isinstance(o, str) and normalize(o) for o in options):
                errors.append(_("Each option must be a non-empty text."))
            elif len({normalize(o) for o in options}) != len(options):
                errors.append(_("Two options are the same once case and accents are ignored."))
            elif any(normalize(o).isdigit() for o in options):
                errors.append(_("Options cannot be plain numbers: a number picks an option by its position."))
        elif options not in (None, []):
            errors.append(_("'options' is only for multiple-choice questions."))
        save_as = config.get("save_as")
        if save_as is not None and (not isinstance(save_as, str) or not VARIABLE_NAME.match(save_as)):
            errors.append(_("'save_as' must be a variable name (letters, digits, underscore)."))
        retries = config.get("retries", 0)
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
            errors.append(_("'retries' must be a whole number from 0 to %(max)d.") % {"max": MAX_RETRIES})
        timeout = config.get("timeout")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= MAX_TIMEOUT
        ):
            errors.append(_("'timeout' must be a number of seconds from 1 to %(max)d.") % {"max": MAX_TIMEOUT})
        if "retry_text" in config:
            errors += require_text(config, "retry_text")
        return errors

    def _wait(self, config: dict[str, Any]) -> Wait:
        from routing.models import Run, Timer

        timeout = config.get("timeout")
        if timeout:
            return Wait(Run.Status.WAITING_ANSWER, Timer.Kind.QUESTION_TIMEOUT, float(timeout))
        return Wait(Run.Status.WAITING_ANSWER)

    def run(self, ctx: StepContext) -> Outcome:
        from inbox import services
        from inbox.models import Conversation

        if ctx.conversation.status != Conversation.Status.OPEN:
            return Outcome(FAILURE, _("The conversation is closed: nobody would answer the question."))
        ctx.state.setdefault("attempts", {})[ctx.step_id] = 0
        text = ctx.render(ctx.config["text"])
        services.send_message(ctx.conversation, text, idempotency_key=ctx.idempotency_key)
        return Outcome(WAITING, _("Asked: %(text)s") % {"text": text[:200]}, wait=self._wait(ctx.config))

    def resume(self, ctx: StepContext, event: Event) -> Outcome:
        from inbox import services

        config = ctx.config
        if event.timer_kind is not None:
            return Outcome(TIMEOUT, _("No answer within %(s)s seconds.") % {"s": f"{float(config['timeout']):g}"})
        kind = config.get("kind", "text")
        options = config.get("options") or []
        try:
            value = parse_answer(kind, event.message.text, options=options, region=ctx.conversation.contact.country)
        except ValueError as exc:
            attempts = ctx.state.setdefault("attempts", {}).get(ctx.step_id, 0) + 1
            ctx.state["attempts"][ctx.step_id] = attempts
            allowed = config.get("retries", 0)
            if attempts > allowed:
                return Outcome(
                    FAILURE,
                    _("Invalid answer (%(reason)s); no retries left after %(n)d.") % {"reason": exc, "n": allowed},
                )
            prompt = ctx.render(config["retry_text"]) if config.get("retry_text") else retry_prompt(kind, options)
            services.send_message(ctx.conversation, prompt, idempotency_key=ctx.idempotency_key)
            return Outcome(
                RETRY,
                _("Invalid answer (%(reason)s); asked again, retry %(n)d of %(max)d.")
                % {"reason": exc, "n": attempts, "max": allowed},
                wait=self._wait(config),
            )
        name = config.get("save_as") or ctx.step_id
        return Outcome(
            SUCCESS,
            _("Answered %(value)s, saved as var.%(name)s.") % {"value": value, "name": name},
            variables={name: value},
        )
