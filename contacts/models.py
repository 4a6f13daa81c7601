from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class ContactField(models.Model):
    """A custom contact field declared by an administrator (e.g. "plan", "vip_level")."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        EMAIL = "email", _("E-mail")
        PHONE = "phone", _("Phone")
        DATE = "date", _("Date")

    key = models.SlugField(_("key"), max_length=64, unique=True, help_text=_("Used in workflows as contact.<key>."))
    label = models.CharField(_("label"), max_length=128)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.TEXT)

    class Meta:
        ordering = ["key"]
        verbose_name = _("contact field")
        verbose_name_plural = _("contact fields")

    def __str__(self) -> str:
        return self.label


class Contact(models.Model):
    """A customer who writes to us on any channel."""

    BUILTIN_FIELDS = ("name", "email", "phone", "language", "country", "external_id")

    external_id = models.CharField(_("external id"), max_length=255, blank=True, default="")
    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    email = models.EmailField(_("e-mail"), blank=True, default="")
    phone = models.CharField(_("phone"), max_length=32, blank=True, default="", help_text=_("E.164 format."))
    language = models.CharField(_("language"), max_length=16, blank=True, default="")
    country = models.CharField(_("country"), max_length=2, blank=True, default="", help_text=_("ISO 3166-1 alpha-2."))
    tags = models.JSONField(_("tags"), default=list, blank=True)
    fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"], condition=~models.Q(external_id=""), name="contact_external_id_unique"
            )
        ]
        indexes = [models.Index(fields=["email"]), models.Index(fields=["phone"])]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or self.external_id or f"#{self.pk}"

    def get_field(self, key: str):
        """Value of a built-in or custom field; ``None`` when it has no value."""
        if key in self.BUILTIN_FIELDS:
            return getattr(self, key) or None
        if key == "tags":
            return list(self.tags or [])
        value = (self.fields or {}).get(key)
        return None if value in ("", None) else value
