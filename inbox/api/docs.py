"""A self-contained API reference page: no CDN, rendered from the same OpenAPI schema."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import reverse
from django.views import View
from drf_spectacular.generators import SchemaGenerator

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
 body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
 code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}
 .m{display:inline-block;width:4.5rem;font-weight:600;text-transform:uppercase;font-size:.8rem}
 li{margin:.3rem 0} .d{color:#555}
</style></head><body>
<h1>{{ title }} <small>{{ version }}</small></h1>
<p>{{ description }} Authenticate with <code>Authorization: Token &lt;key&gt;</code>.
The machine-readable OpenAPI schema is at <a href="{{ schema_url }}">{{ schema_url }}</a>.</p>
<ul>{% for op in operations %}
<li><span class="m">{{ op.method }}</span> <code>{{ op.path }}</code> <span class="d">{{ op.summary }}</span></li>
{% endfor %}</ul>
</body></html>"""


class ApiDocsView(View):
    def get(self, request: HttpRequest) -> HttpResponse:
        schema = SchemaGenerator().get_schema(request=None, public=True)
        operations = [
            {"method": method, "path": path, "summary": operation.get("summary", "")}
            for path, item in schema.get("paths", {}).items()
            for method, operation in item.items()
            if method in HTTP_METHODS
        ]
        info = schema.get("info", {})
        html = (
            engines["django"]
            .from_string(PAGE)
            .render(
                {
                    "title": info.get("title", "API"),
                    "version": info.get("version", ""),
                    "description": info.get("description", ""),
                    "schema_url": reverse("api-schema"),
                    "operations": operations,
                }
            )
        )
        return HttpResponse(html)
