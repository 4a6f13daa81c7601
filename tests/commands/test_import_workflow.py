"""``manage.py import_workflow``: JSON in, a draft (or a live workflow) out, clear errors otherwise."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from routing.models import Workflow
from routing.workflow_templates import load

pytestmark = pytest.mark.django_db

GREETER = {
    "name": "Greeter",
    "trigger": {"type": "conversation_opened"},
    "start": "hello",
    "steps": {"hello": {"type": "send_message", "text": "Hello!"}},
}


def run(*args, stdin=None) -> str:
    out = io.StringIO()
    call_command("import_workflow", *args, stdout=out, stdin=stdin)
    return out.getvalue()


@pytest.fixture
def write(tmp_path):
    def write(content, name="workflow.json") -> str:
        path = tmp_path / name
        path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
        return str(path)

    return write


def test_it_imports_a_file_as_a_draft(write):
    output = run(write(GREETER))

    workflow = Workflow.objects.get()
    assert workflow.name == "Greeter"
    assert workflow.definition == GREETER
    assert workflow.published_version is None
    assert f"Created workflow {workflow.pk}" in output


def test_it_publishes_with_publish(write):
    output = run(write(GREETER), "--publish")

    workflow = Workflow.objects.get()
    assert workflow.published_version.number == 1
    assert f"Published version 1 of workflow {workflow.pk}" in output


def test_it_reads_standard_input(write):
    run("-", "--name", "From stdin", stdin=io.StringIO(json.dumps(GREETER)))

    assert Workflow.objects.get().name == "From stdin"


def test_replace_updates_the_draft_of_the_same_named_workflow(write):
    run(write(GREETER), "--publish")
    changed = {**GREETER, "steps": {"hello": {"type": "send_message", "text": "Hi again"}}}

    output = run(write(changed), "--replace", "--publish")

    workflow = Workflow.objects.get()
    assert workflow.published_version.number == 2
    assert workflow.definition == changed
    assert "Updated the draft" in output


def test_a_missing_file_is_a_clear_error():
    with pytest.raises(CommandError, match=r"Cannot read /nonexistent/wf\.json"):
        run("/nonexistent/wf.json")


def test_malformed_json_says_where(write):
    path = write('{\n  "name": "Greeter",\n  "steps": {,\n}')

    with pytest.raises(CommandError, match=r"invalid JSON at line 3, column 13"):
        run(path)

    assert not Workflow.objects.exists()


def test_an_invalid_draft_lists_the_errors(write):
    with pytest.raises(CommandError, match="'steps' must be an object"):
        run(write({"name": "Broken", "steps": []}))

    assert not Workflow.objects.exists()


def test_a_workflow_that_cannot_be_published_leaves_nothing_behind(write):
    broken = {**GREETER, "steps": {"hello": {"type": "send_message", "text": "Hi", "next": "nowhere"}}}

    with pytest.raises(CommandError) as error:
        run(write(broken), "--publish")

    assert "hello" in str(error.value)
    assert "nowhere" in str(error.value)
    assert not Workflow.objects.exists()


def test_a_template_file_imports_and_publishes_once_its_teams_exist(write):
    from tests.factories import TeamFactory

    for name in ("Sales", "Support", "Billing", "Shipping"):
        TeamFactory(name=name)

    run(write(load("route_by_answer")), "--publish")

    assert Workflow.objects.get().published_version.number == 1
