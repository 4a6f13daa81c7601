"""The HTTP request step: call an external service (a CRM) and map its JSON answer into variables.

Network I/O never happens inside the engine's transaction. The step works in three phases:

1. ``run`` (in the step's transaction, run locked): render method, URL, headers and body from
   the snapshot, keep them in ``run.state["http"]`` and wait in status ``waiting_http``;
2. :func:`perform` (called by the engine after that commit, with no transaction and no lock):
   send it through the SSRF guard (:mod:`routing.ssrf`) with the connection's secret headers
   added only now, read the capped answer, parse JSON;
3. ``resume`` (a new step transaction, applied only if the run's seq still matches): map the
   answer's JSONPath expressions into variables; outcome ``success`` or ``failure`` with the
   reason in the log. Secrets never reach the run's state, variables or log.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _

from routing.interpolation import PLACEHOLDER_RE, render_data, validate_template
from routing.steps.base import (
    FAILURE,
    SUCCESS,
    WAITING,
    Event,
    Outcome,
    Step,
    StepContext,
    ValidationContext,
    Wait,
    require_text,
)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
# Set by the HTTP stack from the URL and the body; a step setting them could mislead the server.
RESERVED_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
MAX_MAPPINGS = 50
HTTP_RESPONSE = "http_response"  # Event.timer_kind of the engine's wake-up with the answer
IDEMPOTENCY_HEADER = "X-Helpdesk-Idempotency-Key"


def header_errors(headers: Any, *, templates: bool = True) -> list[str]:
    """What is wrong with a headers object (a step's, or a connection's secret headers)."""
    if not isinstance(headers, dict):
        return [_("'headers' must be an object from header name to value.")]
    errors: list[str] = []
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            errors.append(_("'%(name)s' is not a valid header name.") % {"name": name[:100]})
        elif name.lower() in RESERVED_HEADERS:
            errors.append(_("Header '%(name)s' is set automatically and cannot be given.") % {"name": name})
        if not isinstance(value, str):
            errors.append(_("Header '%(name)s' must have a text value.") % {"name": name[:100]})
        elif any(char in value for char in "\r\n\x00"):
            errors.append(_("Header '%(name)s' contains a line break.") % {"name": name[:100]})
        elif templates:
            errors += [_("header '%(name)s': %(e)s") % {"name": name[:100], "e": e} for e in validate_template(value)]
    return errors


def _template_errors(value: Any, where: str) -> list[str]:
    """Placeholder errors anywhere in a JSON body (keys and string values)."""
    if isinstance(value, str):
        return [f"{where}: {e}" for e in validate_template(value)]
    if isinstance(value, dict):
        errors = []
        for key, item in value.items():
            errors += _template_errors(key, where) + _template_errors(item, where)
        return errors
    if isinstance(value, list):
        return [e for item in value for e in _template_errors(item, where)]
    return []


def parse_jsonpath(path: str):
    """The compiled JSONPath; ``ValueError`` with the reason when it does not parse."""
    from jsonpath_ng.ext import parse

    if not isinstance(path, str) or not path.strip():
        raise ValueError(_("a JSONPath must be a non-empty text such as $.customerType"))
    try:
        return parse(path)
    except Exception as exc:  # jsonpath-ng raises plain Exception subclasses of several kinds
        raise ValueError(str(exc) or type(exc).__name__) from exc


def _connections(ctx: ValidationContext) -> dict[str, str]:
    known = getattr(ctx, "connections", None)
    if known is None:
        from routing.models import Connection

        known = dict(Connection.objects.values_list("name", "base_url"))
    return known


def _url_errors(url: str, base_url: str | None) -> list[str]:
    sample = PLACEHOLDER_RE.sub("x", url).strip()
    if any(char.isspace() for char in sample):
        return [_("'url' may not contain spaces; placeholders are URL-encoded for you.")]
    if sample.startswith("/"):
        if not base_url:
            return [_("A URL starting with '/' needs a 'connection' with a base URL.")]
        sample = base_url.rstrip("/") + sample
    parts = urlsplit(sample)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return [_("'url' has an invalid port.")]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [_("'url' must start with http:// or https:// and name a host (got %(url)s).") % {"url": url[:200]}]
    if parts.username or parts.password:
        return [_("'url' may not contain a user name or password; put secrets in a connection.")]
    return []


class HttpRequestStep(Step):
    kind = "http_request"
    outcomes = (SUCCESS, FAILURE)
    keys = frozenset({"method", "url", "headers", "body", "mapping", "connection", "timeout"})

    def validate(self, config: dict[str, Any], ctx: ValidationContext) -> list[str]:
        errors: list[str] = []
        method = config.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in METHODS:
            errors.append(_("'method' must be one of %(methods)s.") % {"methods": ", ".join(METHODS)})
        base_url = None
        name = config.get("connection")
        if name is not None:
            connections = _connections(ctx)
            if not isinstance(name, str) or name not in connections:
                errors.append(_("Connection '%(name)s' does not exist.") % {"name": name})
            else:
                base_url = connections[name]
        url_errors = require_text(config, "url", max_length=2000)
        errors += [_("url: %(e)s") % {"e": e} for e in url_errors]
        if not url_errors and not (name is not None and base_url is None):
            errors += _url_errors(config["url"], base_url)
        if "headers" in config:
            errors += header_errors(config["headers"])
        if "body" in config:
            if isinstance(method, str) and method.upper() == "GET":
                errors.append(_("A %(method)s request has no body.") % {"method": method.upper()})
            errors += _template_errors(config["body"], "body")
        mapping = config.get("mapping", {})
        if not isinstance(mapping, dict):
            errors.append(_("'mapping' must be an object from variable name to JSONPath."))
        else:
            if len(mapping) > MAX_MAPPINGS:
                errors.append(_("'mapping' has more than %(n)d entries.") % {"n": MAX_MAPPINGS})
            for variable, path in mapping.items():
                if not VARIABLE_NAME.match(variable):
                    errors.append(_("mapping: '%(name)s' is not a variable name.") % {"name": variable[:100]})
                try:
                    parse_jsonpath(path)
                except ValueError as exc:
                    errors.append(
                        _("mapping '%(name)s': bad JSONPath %(path)s (%(error)s).")
                        % {"name": variable[:100], "path": json.dumps(path)[:200], "error": exc}
                    )
        timeout = config.get("timeout")
        limit = settings.HTTP_REQUEST_TOTAL_TIMEOUT
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.1 <= timeout <= limit
        ):
            errors.append(_("'timeout' must be a number of seconds from 0.1 to %(max)s.") % {"max": limit})
        return errors

    def run(self, ctx: StepContext) -> Outcome:
        from routing.models import Run

        config = ctx.config
        method = config.get("method", "GET").upper()
        url = ctx.render(config["url"], "url")
        headers = {name: ctx.render(value, "header") for name, value in (config.get("headers") or {}).items()}
        body = None
        if "body" in config:
            raw = config["body"]
            if isinstance(raw, str):
                body = ctx.render(raw, "json")
            else:
                body = json.dumps(render_data(raw, ctx.snapshot), ensure_ascii=False)
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        headers.setdefault(IDEMPOTENCY_HEADER, ctx.idempotency_key)
        ctx.state["http"] = {
            "method": method,
            "url": url,
            "headers": headers,
            "body": body,
            "connection": config.get("connection"),
            "timeout": config.get("timeout"),
            "json": bool(config.get("mapping")),
        }
        ctx.state.pop(HTTP_RESPONSE, None)
        return Outcome(
            WAITING,
            _("Calling %(method)s %(url)s") % {"method": method, "url": _shown_url(url)},
            wait=Wait(Run.Status.WAITING_HTTP),
        )

    def resume(self, ctx: StepContext, event: Event) -> Outcome:
        ctx.state.pop("http", None)
        result = ctx.state.pop(HTTP_RESPONSE, None)
        if event.timer_kind != HTTP_RESPONSE or not isinstance(result, dict):
            return Outcome(FAILURE, _("The HTTP request step was woken without an answer."))
        if result.get("error"):
            return Outcome(FAILURE, result["error"])
        status = result.get("status")
        mapping = ctx.config.get("mapping") or {}
        if not mapping:
            return Outcome(SUCCESS, _("Answered HTTP %(status)s.") % {"status": status})
        data = result.get("json")
        variables: dict[str, Any] = {}
        for variable, path in mapping.items():
            matches = [match.value for match in parse_jsonpath(path).find(data)]
            if not matches:
                return Outcome(
                    FAILURE,
                    _("Answered HTTP %(status)s, but %(path)s matched nothing in the answer (for var.%(name)s).")
                    % {"status": status, "path": path, "name": variable},
                )
            variables[variable] = matches[0] if len(matches) == 1 else matches
        shown = ", ".join(f"var.{name} = {_short(value)}" for name, value in variables.items())
        return Outcome(
            SUCCESS,
            _("Answered HTTP %(status)s; set %(vars)s.") % {"status": status, "vars": shown},
            variables=variables,
        )


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 100 else text[:99] + "…"


def _shown_url(url: str) -> str:
    """The URL for the log: without its query string, which may carry personal data or tokens."""
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else parts.path
    return (shown + ("?…" if parts.query else ""))[:300]


def perform(call: dict[str, Any]) -> dict[str, Any]:
    """Send a prepared request (``run.state["http"]``) and describe the answer as plain JSON data.

    Called by the engine with no transaction open and no lock held. Never raises for what the
    network or the server does: the reason goes into ``{"error": ...}`` for the run's log.
    """
    from routing import ssrf
    from routing.models import Connection

    url, secret_headers = call["url"], {}
    if call.get("connection"):
        connection = Connection.objects.filter(name=call["connection"]).first()
        if connection is None:
            return {"error": _("Connection '%(name)s' no longer exists.") % {"name": call["connection"]}}
        secret_headers = {str(k): str(v) for k, v in (connection.secret_headers or {}).items()}
        if url.startswith("/") and connection.base_url:
            url = connection.base_url.rstrip("/") + url
    timeout = float(call.get("timeout") or settings.HTTP_REQUEST_TOTAL_TIMEOUT)
    body = call.get("body")
    try:
        result = ssrf.fetch(
            call["method"],
            url,
            headers=call.get("headers") or {},
            secret_headers=secret_headers,
            body=body.encode() if isinstance(body, str) else None,
            connect_timeout=min(settings.HTTP_REQUEST_CONNECT_TIMEOUT, timeout),
            read_timeout=min(settings.HTTP_REQUEST_READ_TIMEOUT, timeout),
            total_timeout=timeout,
            max_bytes=settings.HTTP_REQUEST_MAX_BYTES,
            max_redirects=settings.HTTP_REQUEST_MAX_REDIRECTS,
        )
    except ssrf.RequestRefused as exc:
        return {"error": str(exc)}
    except requests.Timeout:
        return {"error": _("No answer from %(url)s within %(s)s seconds (timeout).") % _where(url, timeout)}
    except requests.ConnectionError as exc:
        return {"error": _("Could not connect to %(url)s: %(error)s") % {"url": _shown_url(url), "error": _why(exc)}}
    except (requests.RequestException, ValueError) as exc:
        return {"error": _("The request to %(url)s failed: %(error)s") % {"url": _shown_url(url), "error": _why(exc)}}
    if not 200 <= result.status < 300:
        return {
            "status": result.status,
            "error": _("%(url)s answered HTTP %(status)s.") % {"url": _shown_url(url), "status": result.status},
        }
    answer: dict[str, Any] = {"status": result.status}
    if call.get("json"):
        try:
            answer["json"] = json.loads(result.body.decode(result_encoding(result.headers)))
        except (UnicodeDecodeError, LookupError, ValueError):
            kind = result.headers.get("Content-Type", "").split(";")[0] or _("no content type")
            return {
                "status": result.status,
                "error": _("%(url)s answered HTTP %(status)s, but not with JSON (%(kind)s).")
                % {"url": _shown_url(url), "status": result.status, "kind": kind},
            }
    return answer


def result_encoding(headers: dict[str, str]) -> str:
    content_type = headers.get("Content-Type", "")
    for part in content_type.split(";")[1:]:
        key, _sep, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"


def _where(url: str, timeout: float) -> dict[str, str]:
    return {"url": _shown_url(url), "s": f"{timeout:g}"}


def _why(exc: Exception) -> str:
    """An exception in a line, without the long urllib3 chain."""
    text = str(exc.args[0]) if exc.args else type(exc).__name__
    text = str(text)
    return text if len(text) <= 300 else text[:299] + "…"
