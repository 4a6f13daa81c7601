"""One-click workflow templates: the playbooks of the spec, as workflow JSON.

Each template is a JSON file in this package, shaped exactly as the workflow JSON contract,
so what an admin creates from a template is what ``import_workflow`` would import. Templates
name teams; publishing refuses a team that does not exist, so each description says which
teams to create first (``manage.py loaddemo`` creates them all).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from functools import cache
from pathlib import Path
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class WorkflowTemplate:
    slug: str
    name: str | Promise
    description: str | Promise
    filename: str
    teams: tuple[str, ...] = ()
    # (name, placeholder base URL) of the connections its HTTP requests use.
    connections: tuple[tuple[str, str], ...] = ()

    @property
    def path(self) -> Path:
        return HERE / self.filename

    def load(self) -> dict[str, Any]:
        return load(self.slug)


TEMPLATES: dict[str, WorkflowTemplate] = {
    template.slug: template
    for template in (
        WorkflowTemplate(
            slug="route_by_answer",
            name=_("Route by the customer's answer"),
            description=_(
                "When a contact opens a conversation, ask which team can help (Sales, Support, Billing, "
                "Shipping; by name or number, two retries, one hour to answer), assign the conversation to "
                "that team round robin and tell the contact. No valid answer or no answer in time: assign to "
                "Support. Needs the teams Sales, Support, Billing and Shipping."
            ),
            filename="route_by_answer.json",
            teams=("Sales", "Support", "Billing", "Shipping"),
        ),
        WorkflowTemplate(
            slug="route_by_profile",
            name=_("Route by contact profile"),
            description=_(
                "When a contact opens a conversation, route on the contact's profile: language es to the "
                "team Soporte ES, country BR to Suporte BR, everyone else to Support, then greet the contact. "
                "Language and country come from the contact, the phone number or the channel. Needs the teams "
                "Soporte ES, Suporte BR and Support."
            ),
            filename="route_by_profile.json",
            teams=("Soporte ES", "Suporte BR", "Support"),
        ),
        WorkflowTemplate(
            slug="business_hours",
            name=_("Business hours and shifts"),
            description=_(
                "When a contact opens a conversation inside business hours (Monday to Friday, Madrid time, closed "
                "on holidays), assign it round robin to an online agent of Support whose shift covers now. Outside "
                "the hours, send an away message and jump to the assignment, which files the conversation in "
                "Support's queue until the next shift starts. Edit the hours in the date & time step; shifts are "
                "set per team in the admin. Needs the team Support with shifts."
            ),
            filename="business_hours.json",
            teams=("Support",),
        ),
        WorkflowTemplate(
            slug="fast_transfer",
            name=_("Transfer quickly between agents"),
            description=_(
                "When a contact opens a conversation, assign it to an online agent of Support and wait 15 minutes. "
                "If the conversation is still open and nobody has answered, give it to another online agent of "
                "Support (least open conversations, never the same agent) with an internal note saying why. "
                "Needs the team Support."
            ),
            filename="fast_transfer.json",
            teams=("Support",),
        ),
        WorkflowTemplate(
            slug="escalate_shortcut",
            name=_("Escalate to second-line support"),
            description=_(
                "A shortcut agents start from a conversation in the inbox (Workflows → Shortcuts): its form asks "
                "the team (Billing or Technical support) and a summary; the conversation is assigned to that team "
                "round robin and the summary is added as an internal comment, which notifies the new agent. "
                "Needs the teams Billing and Technical support."
            ),
            filename="escalate_shortcut.json",
            teams=("Billing", "Technical support"),
        ),
        WorkflowTemplate(
            slug="vip_contacts",
            name=_("VIP contacts"),
            description=_(
                "When a contact opens a conversation: with an e-mail address, look the contact up in the CRM "
                "(HTTP request through the connection CRM: GET /customers?email=..., customerType mapped into "
                "var.CustomerType); VIP customers go to the VIP team, the others to Support. Without an e-mail, "
                "ask for it (validated, 3 retries), save it to the contact and look up again. A CRM that is down, "
                "slow or answers no JSON routes the contact to Support with a comment. Needs the teams VIP and "
                "Support, and a connection named CRM (Routing → Connections) with the CRM's base URL and API key."
            ),
            filename="vip_contacts.json",
            teams=("VIP", "Support"),
            connections=(("CRM", "https://crm.example.com/api"),),
        ),
    )
}


@cache
def _read(slug: str) -> dict[str, Any]:
    return json.loads(TEMPLATES[slug].path.read_text(encoding="utf-8"))


def load(slug: str) -> dict[str, Any]:
    """A fresh copy of the template's definition; ``KeyError`` for an unknown slug."""
    if slug not in TEMPLATES:
        raise KeyError(slug)
    return copy.deepcopy(_read(slug))


def all_templates() -> list[WorkflowTemplate]:
    return list(TEMPLATES.values())


def ensure_connections() -> list[str]:
    """Create the connections templates refer to, with placeholder URLs and no secrets, if missing.

    An administrator then sets the real base URL and API key in the admin. Returns the names created.
    """
    from routing.models import Connection

    created = []
    for template in TEMPLATES.values():
        for name, base_url in template.connections:
            _connection, new = Connection.objects.get_or_create(
                name=name, defaults={"base_url": base_url, "description": _("Placeholder: set the real URL and key.")}
            )
            if new:
                created.append(name)
    return created
