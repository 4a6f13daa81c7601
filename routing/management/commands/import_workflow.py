"""Import a workflow from its JSON: ``manage.py import_workflow FILE [--name NAME] [--replace] [--publish]``."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from routing import services
from routing.models import Workflow


class Command(BaseCommand):
    help = (
        "Create a draft workflow from a JSON file (or '-' for standard input), shaped as the workflow "
        "JSON contract. --replace updates the draft of the workflow with the same name instead; "
        "--publish makes it live. All or nothing: on any error nothing is created or changed."
    )
    # Tests hand in a stream instead of the process's stdin.
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the JSON file, or '-' to read standard input.")
        parser.add_argument("--name", help="Name the workflow NAME instead of the name in the JSON.")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Update the draft of the existing workflow with the same name instead of creating another.",
        )
        parser.add_argument("--publish", action="store_true", help="Publish the workflow once imported.")

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        definition = self._read(source, options.get("stdin") or sys.stdin)
        if options["name"]:
            if not isinstance(definition, dict):
                raise CommandError(f"{source}: a workflow must be a JSON object.")
            definition["name"] = options["name"]
        try:
            with transaction.atomic():
                workflow, created = self._save(definition, replace=options["replace"])
                version = services.publish(workflow) if options["publish"] else None
        except services.WorkflowInvalid as exc:
            lines = "\n".join(f"  - {error}" for error in exc.errors)
            action = "published" if options["publish"] else "imported"
            raise CommandError(f"{source}: the workflow cannot be {action}; nothing was changed:\n{lines}") from exc
        verb = "Created" if created else "Updated the draft of"
        self.stdout.write(f"{verb} workflow {workflow.pk} “{workflow.name}”.")
        if version is not None:
            self.stdout.write(self.style.SUCCESS(f"Published version {version.number} of workflow {workflow.pk}."))
        else:
            live = workflow.published_version
            state = f"live version {live.number}" if live else "not published"
            self.stdout.write(f"Draft saved ({state}); publish it with --publish or in the admin.")

    def _read(self, source: str, stdin: Any) -> Any:
        try:
            if source == "-":
                text = stdin.read()
            else:
                with open(source, encoding="utf-8") as handle:
                    text = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {source}: {exc}") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}.") from exc

    def _save(self, definition: Any, *, replace: bool) -> tuple[Workflow, bool]:
        if replace and isinstance(definition, dict) and isinstance(definition.get("name"), str):
            existing = list(Workflow.objects.select_for_update().filter(name=definition["name"].strip())[:2])
            if len(existing) > 1:
                raise CommandError(f"Several workflows are named “{definition['name']}”; rename one first.")
            if existing:
                return services.update_draft(existing[0], definition), False
        return services.create_workflow(definition), True
