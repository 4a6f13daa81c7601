"""The registry of step kinds. The engine and the publish-time validator both read it."""

from __future__ import annotations

from routing.steps.base import Event, Outcome, Step, StepContext, StepError, ValidationContext, Wait
from routing.steps.conversation import (
    AddCommentStep,
    AssignStep,
    CloseConversationStep,
    SendMessageStep,
    UpdateContactStep,
)
from routing.steps.flow import BranchStep, JumpStep, WaitStep
from routing.steps.http import HttpRequestStep
from routing.steps.question import AskQuestionStep
from routing.steps.schedule import DateTimeStep

STEP_TYPES: dict[str, Step] = {
    step.kind: step
    for step in (
        AskQuestionStep(),
        BranchStep(),
        AssignStep(),
        SendMessageStep(),
        AddCommentStep(),
        UpdateContactStep(),
        JumpStep(),
        WaitStep(),
        CloseConversationStep(),
        DateTimeStep(),
        HttpRequestStep(),
    )
}


def get_step(kind: str) -> Step | None:
    return STEP_TYPES.get(kind)


__all__ = [
    "STEP_TYPES",
    "Event",
    "Outcome",
    "Step",
    "StepContext",
    "StepError",
    "ValidationContext",
    "Wait",
    "get_step",
]
