"""Plumbing shared by every API view: the JSON parser, the error handler, the permissions."""

from __future__ import annotations

from rest_framework import permissions


def is_agent_or_admin(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_superuser or hasattr(user, "agent")))


class IsAgentOrAdmin(permissions.BasePermission):
    """Agents (users with an agent profile) and administrators; other accounts see nothing."""

    def has_permission(self, request, view) -> bool:
        return is_agent_or_admin(request.user)


class IsSuperuser(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


class AgentsReadAdminsWrite(permissions.BasePermission):
    """Configuration objects: agents may look, only administrators change."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return is_agent_or_admin(request.user)
        return bool(request.user and request.user.is_authenticated and request.user.is_superuser)


class IsIntegrator(permissions.BasePermission):
    """Posting on behalf of contacts: an administrator's (or staff) token, i.e. the integration."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_superuser or user.is_staff))


class ApiMixin:
    """Mixed into every API view: agents and admins only.

    The bounded JSON parser, the error handler and the schema class are project-wide
    (REST_FRAMEWORK in settings), so views outside this mixin get them too.
    """

    permission_classes = [IsAgentOrAdmin]
