from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator, slugify
from django.utils.translation import gettext_lazy as _

from inbox.models import Team
from routing import services, workflow_templates
from routing.models import AllowedHost, Connection, Run, RunLog, Timer, Workflow, WorkflowVersion
from routing.validation import check_shape

PUBLISH_BUTTON = "_publish"


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def json_block(value: Any) -> str:
    # format_html escapes the JSON: names and texts in a definition are user data.
    return format_html('<pre class="json-view">{}</pre>', pretty_json(value))


class ReadOnlyMixin:
    """Records the engine writes: admins read them, nobody edits them by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Workflows ----------------------------------------------------------------------------------


class PrettyJSONField(forms.JSONField):
    """JSON edited as indented text; a syntax error says where it is."""

    default_error_messages = {"invalid": _("Invalid JSON at line %(line)d, column %(column)d: %(message)s.")}

    def to_python(self, value: Any) -> Any:
        if self.disabled or value in self.empty_values or isinstance(value, list | dict | int | float):
            return super().to_python(value)
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                self.error_messages["invalid"],
                code="invalid",
                params={"line": exc.lineno, "column": exc.colno, "message": exc.msg},
            ) from exc

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return pretty_json(value)


class WorkflowForm(forms.ModelForm):
    definition = PrettyJSONField(
        label=_("Draft definition"),
        widget=forms.Textarea(attrs={"class": "json-editor", "rows": 32, "cols": 100, "spellcheck": "false"}),
        help_text=_(
            'The workflow as JSON (its "name" names the workflow). Saving stores the draft; only '
            "“Save and publish” makes it live. Paste an exported workflow here to import it."
        ),
    )

    class Meta:
        model = Workflow
        fields = ["definition", "is_active"]

    def clean_definition(self) -> Any:
        definition = self.cleaned_data["definition"]
        # The same check the services make before storing a draft, shown on the form.
        errors = check_shape(definition)
        if errors:
            raise ValidationError(errors)
        return definition


class WorkflowVersionInline(ReadOnlyInline):
    model = WorkflowVersion
    fields = ["version_link", "published_at", "published_by"]
    readonly_fields = fields
    ordering = ["-number"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkflowVersion]:
        return super().get_queryset(request).select_related("published_by")

    @admin.display(description=_("version"))
    def version_link(self, obj: WorkflowVersion) -> str:
        url = reverse("admin:routing_workflowversion_change", args=[obj.pk])
        return format_html('<a href="{}">v{}</a>', url, obj.number)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowForm
    list_display = ["name", "trigger_type", "is_active", "live_version", "unpublished_changes", "updated_at"]
    list_filter = ["trigger_type", "is_active"]
    list_select_related = ["published_version"]
    search_fields = ["name"]
    readonly_fields = ["name", "trigger_type", "live_version", "unpublished_changes", "runs_link", "updated_at"]
    inlines = [WorkflowVersionInline]
    actions = ["publish_selected", "validate_selected", "export_json"]

    def get_fieldsets(self, request: HttpRequest, obj: Workflow | None = None) -> list:
        if obj is None:
            return [(None, {"fields": ["definition", "is_active"]})]
        return [
            (None, {"fields": ["name", "trigger_type", "is_active"]}),
            (_("Publishing"), {"fields": ["live_version", "unpublished_changes", "runs_link", "updated_at"]}),
            (_("Draft"), {"fields": ["definition"]}),
        ]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {
            "definition": {
                "name": "",
                "trigger": {"type": "conversation_opened", "conditions": []},
                "start": "",
                "steps": {},
            }
        }

    @admin.display(description=_("live version"), ordering="published_version__number")
    def live_version(self, obj: Workflow) -> str:
        return f"v{obj.published_version.number}" if obj.published_version else "—"

    @admin.display(description=_("unpublished changes"), boolean=True)
    def unpublished_changes(self, obj: Workflow) -> bool:
        return obj.has_unpublished_changes

    @admin.display(description=_("runs"))
    def runs_link(self, obj: Workflow) -> str:
        url = reverse("admin:routing_run_changelist") + f"?workflow__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("See this workflow's runs"))

    # Saving: the draft through the services, never a bare save().

    def save_model(self, request: HttpRequest, obj: Workflow, form: forms.ModelForm, change: bool) -> None:
        definition = form.cleaned_data["definition"]
        if change:
            # ``obj`` carries the edited is_active; update_draft saves it with the draft.
            services.update_draft(obj, definition)
            return
        created = services.create_workflow(definition)
        if created.is_active != obj.is_active:
            created.is_active = obj.is_active
            created.save(update_fields=["is_active", "updated_at"])
        # The admin goes on with ``obj`` (log entry, redirect): make it the created row.
        for field in Workflow._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    def response_add(self, request: HttpRequest, obj: Workflow, post_url_continue: str | None = None) -> HttpResponse:
        if PUBLISH_BUTTON in request.POST:
            return self._publish_and_stay(request, obj)
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Workflow) -> HttpResponse:
        if PUBLISH_BUTTON in request.POST:
            return self._publish_and_stay(request, obj)
        return super().response_change(request, obj)

    def _publish_and_stay(self, request: HttpRequest, obj: Workflow) -> HttpResponse:
        self._publish(request, obj)
        return HttpResponseRedirect(reverse("admin:routing_workflow_change", args=[obj.pk]))

    def _publish(self, request: HttpRequest, workflow: Workflow) -> bool:
        try:
            version = services.publish(workflow, user=request.user)
        except services.WorkflowInvalid as exc:
            self.message_user(
                request,
                _("“%(name)s” was saved as a draft but not published:") % {"name": workflow.name},
                messages.ERROR,
            )
            for error in exc.errors:
                self.message_user(request, error, messages.ERROR)
            return False
        self.message_user(
            request,
            _("“%(name)s” is live: version %(number)d published.") % {"name": workflow.name, "number": version.number},
            messages.SUCCESS,
        )
        return True

    # Actions.

    @admin.action(description=_("Publish selected workflows"), permissions=["change"])
    def publish_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        for workflow in queryset.order_by("pk"):
            self._publish(request, workflow)

    @admin.action(description=_("Validate selected workflows"))
    def validate_selected(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        for workflow in queryset.order_by("pk"):
            errors = services.validate_definition(workflow.definition)
            if not errors:
                self.message_user(
                    request, _("“%(name)s”: the draft is valid.") % {"name": workflow.name}, messages.SUCCESS
                )
                continue
            self.message_user(
                request,
                _("“%(name)s”: %(errors)s") % {"name": workflow.name, "errors": " ".join(errors)},
                messages.ERROR,
            )

    @admin.action(description=_("Export selected workflows as JSON"))
    def export_json(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> HttpResponse:
        workflows = list(queryset.order_by("pk"))
        if len(workflows) == 1:
            # One workflow exports as one definition: what import_workflow and the add page take.
            payload: Any = services.export_workflow(workflows[0])
            filename = f"{slugify(workflows[0].name) or 'workflow'}.json"
        else:
            payload = [services.export_workflow(workflow) for workflow in workflows]
            filename = "workflows.json"
        response = HttpResponse(pretty_json(payload) + "\n", content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response

    # Create from a template.

    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "templates/",
                self.admin_site.admin_view(self.templates_view),
                name="routing_workflow_templates",
            )
        ]
        # Before the defaults: their catch-all "<object_id>/" would take "templates/".
        return custom + super().get_urls()

    def templates_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if request.method == "POST":
            return self._create_from_template(request, request.POST.get("template", ""))
        team_names = set(Team.objects.values_list("name", flat=True))
        templates = [
            {"template": template, "missing_teams": [t for t in template.teams if t not in team_names]}
            for template in workflow_templates.all_templates()
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Create a workflow from a template"),
            "opts": self.opts,
            "templates": templates,
        }
        return TemplateResponse(request, "admin/routing/workflow/templates.html", context)

    def _create_from_template(self, request: HttpRequest, slug: str) -> HttpResponse:
        if slug not in workflow_templates.TEMPLATES:
            self.message_user(request, _("Unknown template."), messages.ERROR)
            return redirect("admin:routing_workflow_templates")
        try:
            workflow = services.create_workflow(workflow_templates.load(slug))
        except services.WorkflowInvalid as exc:
            for error in exc.errors:
                self.message_user(request, error, messages.ERROR)
            return redirect("admin:routing_workflow_templates")
        self.log_addition(request, workflow, [{"added": {}}])
        self.message_user(
            request,
            _("Draft “%(name)s” created from a template. Review it, then Save and publish.") % {"name": workflow.name},
            messages.SUCCESS,
        )
        return redirect("admin:routing_workflow_change", workflow.pk)


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["__str__", "workflow", "number", "published_at", "published_by"]
    list_filter = ["workflow"]
    list_select_related = ["workflow", "published_by"]
    fields = ["workflow", "number", "published_at", "published_by", "definition_json"]
    readonly_fields = fields

    @admin.display(description=_("definition"))
    def definition_json(self, obj: WorkflowVersion) -> str:
        return json_block(obj.definition)


# --- Runs ---------------------------------------------------------------------------------------


class RunLogInline(ReadOnlyInline):
    model = RunLog
    fields = ["seq", "step", "step_type", "outcome", "detail", "at"]
    readonly_fields = fields
    ordering = ["seq", "id"]
    verbose_name_plural = _("run log")


class TimerInline(ReadOnlyInline):
    model = Timer
    fields = ["kind", "seq", "due_at", "fired_at", "cancelled_at"]
    readonly_fields = fields


class StuckFilter(admin.SimpleListFilter):
    title = _("resumes")
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("Never: stuck"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Run]) -> QuerySet[Run]:
        return queryset.stuck() if self.value() == "yes" else queryset


@admin.register(Run)
class RunAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "workflow",
        "version_number",
        "conversation",
        "status",
        "current_step",
        "resumes",
        "started_at",
        "updated_at",
    ]
    list_filter = [StuckFilter, "status", "workflow"]
    list_select_related = ["workflow", "version", "conversation__contact"]
    search_fields = ["current_step", "error"]
    date_hierarchy = "started_at"
    fields = [
        "workflow",
        "version_number",
        "conversation_link",
        "status",
        "current_step",
        "error",
        "variables_json",
        "started_by",
        "started_at",
        "updated_at",
        "finished_at",
    ]
    readonly_fields = fields
    inlines = [RunLogInline, TimerInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        runs = (
            super().get_queryset(request).select_related("workflow", "version", "conversation__contact", "started_by")
        )
        return runs.with_pending_timer()

    @admin.display(description=_("resumes"))
    def resumes(self, obj: Run) -> str:
        """When the run goes on, or, in red, why it never will."""
        never = None
        if obj.status == Run.Status.WAITING_TIMER and not obj.has_pending_timer:
            never = _("never: no timer is pending")
        elif obj.status == Run.Status.WAITING_ANSWER and obj.conversation.status == "closed":
            never = _("never: the conversation is closed")
        elif (
            obj.status in (Run.Status.RUNNING, Run.Status.WAITING_HTTP) and obj.updated_at < timezone.now() - Run.STALL
        ):
            never = _("stuck: untouched since %(at)s") % {
                "at": date_format(timezone.localtime(obj.updated_at), "DATETIME_FORMAT")
            }
        if never:
            return format_html('<strong style="color: var(--error-fg, #ba2121)">⚠ {}</strong>', never)
        labels = {
            Run.Status.WAITING_TIMER: _("when its timer fires"),
            Run.Status.WAITING_ANSWER: _("when the contact answers"),
            Run.Status.WAITING_HTTP: _("when the HTTP request returns"),
            Run.Status.RUNNING: _("now (running)"),
        }
        return labels.get(obj.status, "—")

    @admin.display(description=_("version"), ordering="version__number")
    def version_number(self, obj: Run) -> int:
        return obj.version.number

    @admin.display(description=_("conversation"))
    def conversation_link(self, obj: Run) -> str:
        url = reverse("admin:inbox_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">{}</a>', url, obj.conversation)

    @admin.display(description=_("variables"))
    def variables_json(self, obj: Run) -> str:
        return json_block(obj.variables)


@admin.register(RunLog)
class RunLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["run", "seq", "step", "step_type", "outcome", "short_detail", "at"]
    list_filter = ["outcome", "step_type", "run__workflow"]
    list_select_related = ["run__workflow"]
    search_fields = ["step", "detail"]
    fields = ["run", "seq", "step", "step_type", "outcome", "detail", "at"]
    readonly_fields = fields

    @admin.display(description=_("detail"))
    def short_detail(self, obj: RunLog) -> str:
        return Truncator(obj.detail).chars(120)


@admin.register(Timer)
class TimerAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "run", "kind", "seq", "due_at", "fired_at", "cancelled_at"]
    list_filter = ["kind"]
    list_select_related = ["run__workflow"]
    fields = ["run", "kind", "seq", "due_at", "fired_at", "cancelled_at"]
    readonly_fields = fields


# --- Integrations: connections and the HTTP allowlist -------------------------------------------


class ConnectionForm(forms.ModelForm):
    base_url = forms.URLField(
        label=_("base URL"),
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text=_('Optional. A step URL starting with "/" is appended to it.'),
    )
    secret_headers = forms.JSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false", "autocomplete": "off"}),
        help_text=_('Header name to value, e.g. {"X-Api-Key": "..."}. Sent with each request; never logged.'),
    )

    class Meta:
        model = Connection
        fields = ["name", "base_url", "secret_headers", "description"]

    def clean_secret_headers(self) -> dict[str, str]:
        return self.cleaned_data.get("secret_headers") or {}


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    """Secrets are entered here and used by the HTTP request step; lists show header names only."""

    form = ConnectionForm
    list_display = ["name", "base_url", "header_names", "updated_at"]
    search_fields = ["name", "base_url"]

    @admin.display(description=_("secret headers"))
    def header_names(self, obj: Connection) -> str:
        return ", ".join(sorted(obj.secret_headers or {})) or "-"


@admin.register(AllowedHost)
class AllowedHostAdmin(admin.ModelAdmin):
    list_display = ["value", "note", "created_at"]
    search_fields = ["value", "note"]
