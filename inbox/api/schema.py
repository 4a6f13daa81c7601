"""The OpenAPI generator of this API: every operation also documents its error answers.

Clients and fuzzers check that each status code they meet is in the schema; the errors every
view can give (authentication, permission, visibility, input) are added here once.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema

FIELD_ERRORS = {"type": "object", "additionalProperties": {}, "description": "{field: [messages]} or {detail: text}"}
DETAIL = {"type": "object", "properties": {"detail": {"type": "string"}}}


def _response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


MAX_ID = 2**63 - 1


class ApiAutoSchema(AutoSchema):
    def _resolve_path_parameters(self, variables):
        # Ids are positive database keys: say so, so clients (and the fuzzer) know "-1" is no id.
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if schema.get("type") == "integer":
                schema.setdefault("minimum", 1)
                schema.setdefault("maximum", MAX_ID)
        return parameters

    def _get_response_bodies(self, direction="response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        defaults = {
            "401": _response("Missing or invalid token.", DETAIL),
            "403": _response("Not allowed for your account.", DETAIL),
            "404": _response("Unknown, not visible to you, or an invalid page/cursor.", DETAIL),
        }
        if self.method in ("POST", "PUT", "PATCH") or self._is_list_view():
            defaults["400"] = _response("Invalid input: malformed JSON, or field errors.", FIELD_ERRORS)
        if self.method in ("POST", "PUT", "PATCH"):
            defaults["413"] = _response("The request body is too large.", DETAIL)
            defaults["415"] = _response("Send application/json.", DETAIL)
        if self.method == "DELETE":
            defaults["409"] = _response("Still in use by other records.", DETAIL)
        for code, response in defaults.items():
            responses.setdefault(code, response)
        return responses
