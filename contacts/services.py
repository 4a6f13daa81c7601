"""Writes to contacts: upsert from a channel with enrichment, field updates."""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from contacts.models import Contact, ContactField

CONTACT_INPUT_FIELDS = ("external_id", "name", "email", "phone", "language", "country")
MAX_LENGTHS = {"external_id": 255, "name": 255, "email": 254, "phone": 32, "language": 16, "country": 2}


def parse_phone(raw: str, default_region: str | None = None) -> phonenumbers.PhoneNumber:
    """Parse a phone number with the `phonenumbers` library; ``ValueError`` when it is not one."""
    try:
        number = phonenumbers.parse(raw, (default_region or "").upper() or None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(str(exc)) from exc
    if not phonenumbers.is_possible_number(number):
        raise ValueError("not a possible phone number")
    return number


def country_from_phone(e164: str) -> str:
    """ISO country of a phone number, from its calling code ('' when ambiguous or unknown)."""
    try:
        number = parse_phone(e164)
    except ValueError:
        return ""
    return phonenumbers.region_code_for_number(number) or ""


def clean_contact_data(data: Any, *, default_region: str = "") -> dict[str, str]:
    """Validate the contact part of an incoming message; field errors raise ``ValidationError``."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValidationError({"contact": [_("Must be an object.")]})
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, str] = {}
    for key in CONTACT_INPUT_FIELDS:
        value = data.get(key)
        if value is None:
            continue
        if isinstance(value, int | float) and not isinstance(value, bool) and key in ("external_id", "phone"):
            value = str(value)
        if not isinstance(value, str):
            errors[key] = [_("Must be a string.")]
            continue
        value = value.strip()
        if len(value) > MAX_LENGTHS[key]:
            errors[key] = [_("At most %(n)d characters.") % {"n": MAX_LENGTHS[key]}]
            continue
        cleaned[key] = value
    if cleaned.get("email"):
        try:
            validate_email(cleaned["email"])
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address.")]
        else:
            cleaned["email"] = cleaned["email"].lower()
    if cleaned.get("phone"):
        try:
            number = parse_phone(cleaned["phone"], cleaned.get("country") or default_region)
        except ValueError:
            errors["phone"] = [_("Enter a valid phone number, with its country code (e.g. +34 612 345 678).")]
        else:
            cleaned["phone"] = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if cleaned.get("country"):
        if len(cleaned["country"]) != 2 or not cleaned["country"].isalpha():
            errors["country"] = [_("Use a two-letter ISO 3166 country code, e.g. ES.")]
        else:
            cleaned["country"] = cleaned["country"].upper()
    if cleaned.get("language"):
        cleaned["language"] = cleaned["language"].lower()
    if errors:
        raise ValidationError(errors)
    return cleaned


def enrich(contact: Contact, *, channel_language: str = "", channel_country: str = "") -> None:
    """Fill language and country that the contact lacks: phone calling code first, then channel."""
    if not contact.country and contact.phone:
        contact.country = country_from_phone(contact.phone)
    if not contact.country and channel_country:
        contact.country = channel_country.upper()
    if not contact.language and channel_language:
        contact.language = channel_language.lower()


def _lock_identity(identity: str) -> None:
    """Serialise first messages of one e-mail or phone (no unique constraint can, as two
    contacts may share them). A transaction-scoped advisory lock on PostgreSQL; SQLite
    already runs one writer at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"contact:{identity}"])


def upsert_contact(data: dict[str, str], *, channel_language: str = "", channel_country: str = "") -> Contact:
    """Find the contact, or create it: by external id when one is given, else by e-mail, then phone.

    An external id is the integration's identity for a person: when it is given, only it
    decides, so a message can never slip into another person's contact (and conversations)
    by naming their e-mail. A stored external id is never overwritten. ``data`` must come
    from :func:`clean_contact_data`; fields given overwrite stored ones, others are kept.

    Runs in a short transaction of its own: callers take no other lock while it holds the
    contact's row, which keeps it out of any lock-order cycle with conversations.
    """
    try:
        return _upsert(data, channel_language, channel_country)
    except IntegrityError:
        # Two first messages from the same new contact raced and the other one created it (the
        # unique constraint decided): now it is found. No savepoint around the insert: the common
        # case pays no extra round trips.
        return _upsert(data, channel_language, channel_country)


def _upsert(data: dict[str, str], channel_language: str, channel_country: str) -> Contact:
    keys = ("external_id",) if data.get("external_id") else ("email", "phone")
    with transaction.atomic():
        if not data.get("external_id"):
            _lock_identity(data.get("email") or data["phone"])
        contact = None
        for key in keys:
            if data.get(key):
                contact = Contact.objects.select_for_update().filter(**{key: data[key]}).order_by("pk").first()
                if contact is not None:
                    break
        if contact is None:
            contact = Contact(**data)
            enrich(contact, channel_language=channel_language, channel_country=channel_country)
            contact.save()
            return contact
        changed = [
            key
            for key, value in data.items()
            if value and getattr(contact, key) != value and not (key == "external_id" and contact.external_id)
        ]
        for key in changed:
            setattr(contact, key, data[key])
        before = (contact.language, contact.country)
        enrich(contact, channel_language=channel_language, channel_country=channel_country)
        if (contact.language, contact.country) != before:
            changed += ["language", "country"]
        if changed:
            contact.save(update_fields=sorted(set(changed)) + ["updated_at"])
        return contact


def set_field(contact: Contact, key: str, value: Any) -> Contact:
    """Set a built-in or admin-declared custom field; ``ValidationError`` for bad input."""
    if key == "tags":
        tags = value if isinstance(value, list) else [t.strip() for t in str(value).split(",") if t.strip()]
        contact.tags = sorted(set(contact.tags or []) | {str(t) for t in tags})
        contact.save(update_fields=["tags", "updated_at"])
        return contact
    if key in CONTACT_INPUT_FIELDS:
        cleaned = clean_contact_data({key: "" if value is None else str(value)}, default_region=contact.country)
        setattr(contact, key, cleaned.get(key, ""))
        fields = [key, "updated_at"]
        if key == "phone" and not contact.country:
            enrich(contact)
            fields.append("country")
        # Only what changed: the caller's copy may be older than another writer's.
        contact.save(update_fields=fields)
        return contact
    if not ContactField.objects.filter(key=key).exists():
        raise ValidationError(_("Unknown contact field %(key)s.") % {"key": key})
    contact.fields = {**(contact.fields or {}), key: value}
    contact.save(update_fields=["fields", "updated_at"])
    return contact
