from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from contacts.models import Contact, ContactField


@admin.register(ContactField)
class ContactFieldAdmin(admin.ModelAdmin):
    list_display = ["key", "label", "kind"]
    list_filter = ["kind"]
    search_fields = ["key", "label"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "email",
        "phone",
        "language",
        "country",
        "external_id",
        "conversation_count",
        "created_at",
    ]
    list_filter = ["language", "country"]
    search_fields = ["name", "email", "phone", "external_id"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "email", "phone", "external_id"]}),
        (_("Profile"), {"fields": ["language", "country", "tags", "fields"]}),
        (_("Dates"), {"fields": ["created_at", "updated_at"]}),
    ]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Contact]:
        # One grouped query for the whole page instead of a count per row.
        return super().get_queryset(request).annotate(_conversation_count=Count("conversations"))

    @admin.display(description=_("conversations"), ordering="_conversation_count")
    def conversation_count(self, obj: Contact) -> int:
        return obj._conversation_count
