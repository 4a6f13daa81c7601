from __future__ import annotations

from rest_framework import serializers

from contacts.models import Contact
from contacts.services import MAX_LENGTHS


class ContactSerializer(serializers.ModelSerializer):
    # Plain text in the schema: an address, or "" when the contact has none (not a valid "email").
    email = serializers.CharField(read_only=True, help_text="E-mail address; empty when unknown.")
    tags = serializers.ListField(child=serializers.CharField(), read_only=True)
    fields = serializers.DictField(read_only=True, help_text="Custom fields declared by an administrator.")

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "email",
            "phone",
            "language",
            "country",
            "external_id",
            "tags",
            "fields",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _text(key: str, **kwargs) -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, max_length=MAX_LENGTHS[key], **kwargs)


class ContactUpdateSerializer(serializers.Serializer):
    """``PATCH /contacts/<id>/``: the fields given are set, the others kept.

    Formats (e-mail, phone, country) are checked by the contacts service.
    """

    name = _text("name")
    email = _text("email")
    phone = _text("phone", help_text="With its country code (E.164).")
    language = _text("language")
    country = _text("country", help_text="ISO 3166-1 alpha-2.")
    external_id = _text("external_id")
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, help_text="Tags to add to the contact's tags."
    )
    fields = serializers.DictField(
        required=False, help_text="Custom field values by key; each key must be declared as a contact field."
    )
