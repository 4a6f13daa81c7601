"""Load a small demo: teams, an admin, online agents, two API channels and the two playbooks, live.

Idempotent: what exists is kept as it is (passwords included), what is missing is created.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from inbox import services
from inbox.models import Agent, Channel, Team
from routing import services as routing_services
from routing import workflow_templates
from routing.models import Workflow

TEAMS = ("Sales", "Support", "Billing", "Shipping", "Soporte ES", "Suporte BR", "Technical support", "VIP")
# username, full name, team
AGENTS = (
    ("sara", "Sara Sales", "Sales"),
    ("sam", "Sam Support", "Support"),
    ("bill", "Bill Billing", "Billing"),
    ("shay", "Shay Shipping", "Shipping"),
    ("sofia", "Sofía Soporte", "Soporte ES"),
    ("bruno", "Bruno Suporte", "Suporte BR"),
    ("tess", "Tess Technical", "Technical support"),
    ("victor", "Victor VIP", "VIP"),
)
# name, language, country, kind: contacts without a language or country get the channel's.
CHANNELS = (
    ("API", "", "", Channel.Kind.API),
    ("WhatsApp", "", "", Channel.Kind.API),
    ("Web chat", "", "", Channel.Kind.WEB_CHAT),
)
# Template slug and the channel it listens on, so the two never start on the same conversation.
WORKFLOWS = (("route_by_answer", "API"), ("route_by_profile", "WhatsApp"), ("route_by_answer", "Web chat"))
# Shortcuts agents start from the inbox: on no channel in particular.
SHORTCUTS = ("escalate_shortcut",)


class Command(BaseCommand):
    help = "Create demo teams, users, channels and live workflows; safe to run again."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--quiet",
            action="store_true",
            help="Print only the passwords of users created now (they are never shown again).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.quiet = options["quiet"]
        with transaction.atomic():
            teams = self._teams()
            self._user("admin", "Admin", team=None, superuser=True)
            for username, name, team in AGENTS:
                self._user(username, name, team=teams[team], superuser=False)
            channels = self._channels()
            workflow_templates.ensure_connections()  # e.g. "CRM" of the VIP template, a placeholder
            for slug, channel in WORKFLOWS:
                self._workflow(slug, channel)
            for slug in SHORTCUTS:
                self._shortcut(slug)
        self._hint(channels)

    def say(self, message: str) -> None:
        if not self.quiet:
            self.stdout.write(message)

    def _teams(self) -> dict[str, Team]:
        teams = {}
        for name in TEAMS:
            teams[name], created = Team.objects.get_or_create(name=name)
            self.say(f"Team {name}: {'created' if created else 'already exists'}.")
        return teams

    def _user(self, username: str, name: str, *, team: Team | None, superuser: bool) -> None:
        User = get_user_model()
        user = User.objects.filter(username__iexact=username).first()
        if user is not None:
            agent = Agent.objects.filter(user=user).first()
            if agent is not None and team is not None:
                agent.teams.add(team)
            self.say(f"User {username}: already exists, password unchanged.")
            return
        password = secrets.token_urlsafe(9)
        services.create_agent(
            username=username,
            email=f"{username}@example.com",
            name=name,
            teams=[team] if team is not None else [],
            availability=Agent.Availability.ONLINE if team is not None else Agent.Availability.OFFLINE,
            password=password,
            is_superuser=superuser,
        )
        role = "superuser" if superuser else f"agent of {team}, online"
        # Shown once, even with --quiet: it is stored hashed and cannot be printed again.
        self.stdout.write(self.style.SUCCESS(f"User {username} ({role}) created; password: {password}"))

    def _channels(self) -> dict[str, Channel]:
        channels = {}
        for name, language, country, kind in CHANNELS:
            channel, created = Channel.objects.get_or_create(
                name=name, defaults={"kind": kind, "language": language, "country": country}
            )
            channels[name] = channel
            self.say(f"Channel {name} (id {channel.pk}): {'created' if created else 'already exists'}.")
        return channels

    def _workflow(self, slug: str, channel: str) -> None:
        definition = workflow_templates.load(slug)
        definition["name"] = f"{definition['name']} ({channel})"
        trigger = definition.setdefault("trigger", {"type": "conversation_opened"})
        trigger["conditions"] = [
            *trigger.get("conditions", []),
            {"field": "conversation.channel", "op": "eq", "value": channel},
        ]
        self._create_and_publish(slug, definition)

    def _shortcut(self, slug: str) -> None:
        self._create_and_publish(slug, workflow_templates.load(slug))

    def _create_and_publish(self, slug: str, definition: dict[str, Any]) -> None:
        workflow = Workflow.objects.filter(name=definition["name"]).order_by("pk").first()
        try:
            if workflow is None:
                workflow = routing_services.create_workflow(definition)
                self.say(f"Workflow {workflow.name}: created.")
            else:
                self.say(f"Workflow {workflow.name}: already exists.")
            if workflow.published_version_id is None:
                version = routing_services.publish(workflow)
                self.say(f"Workflow {workflow.name}: published version {version.number}.")
        except routing_services.WorkflowInvalid as exc:
            raise CommandError(f"Template {slug} cannot be published: " + "; ".join(exc.errors)) from exc

    def _hint(self, channels: dict[str, Channel]) -> None:
        api, whatsapp = channels["API"], channels["WhatsApp"]
        self.say(
            f"""
Try it (run the server and a worker: `.venv/bin/python manage.py runserver` and
`.venv/bin/celery -A helpdesk worker -B`):

  TOKEN=$(.venv/bin/python manage.py drf_create_token admin | awk '{{print $3}}')

Playbook 1, route by answer, on channel "API" (id {api.pk}): write, then answer the question with "2".
  curl -s -X POST http://localhost:8000/api/v1/channels/{api.pk}/incoming/ \\
    -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
    -d '{{"contact": {{"external_id": "demo-1", "name": "Ana"}}, "text": "Hello"}}'
  curl -s -X POST http://localhost:8000/api/v1/channels/{api.pk}/incoming/ \\
    -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
    -d '{{"contact": {{"external_id": "demo-1"}}, "text": "2"}}'

Playbook 2, route by profile, on channel "WhatsApp" (id {whatsapp.pk}): a Brazilian number goes to Suporte BR,
language "es" to Soporte ES, anyone else to Support.
  curl -s -X POST http://localhost:8000/api/v1/channels/{whatsapp.pk}/incoming/ \\
    -H "Authorization: Token $TOKEN" -H "Content-Type: application/json" \\
    -d '{{"contact": {{"external_id": "demo-2", "phone": "+55 11 91234-5678"}}, "text": "Oi"}}'

Read the runs in the admin: http://localhost:8000/admin/routing/run/

The agent inbox: http://localhost:8000/inbox/ (log in as an agent, e.g. bill); a contact's web chat on
channel "Web chat": http://localhost:8000/chat/{channels["Web chat"].pk}/"""
        )
