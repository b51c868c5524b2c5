"""Rendering a console page: the Jinja2 environment (autoescaped HTML, templates/console/*.html.j2), the
context every page gets (t, lang, staff, csrf, nav, the language switch's links) and the response (the
language cookie when `?lang=` chose it, headers that keep the page out of caches and frames)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.console.i18n import LANGUAGE_COOKIE, LANGUAGE_COOKIE_SECONDS, Translations, request_language
from api.console.nav import visible_nav
from api.deps import CSRF_FIELD, CSRF_HEADER, StaffBadge, StaffContext
from core.config import Settings
from core.models import StaffUser
from core.models.enums import Language
from core.templating import TEMPLATES_DIR

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


class ConsoleTemplates:
    """Built once by the api (api.console.install): the environment and the strings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.translations = Translations()
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES_DIR),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = self.local

    def local(self, value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "" if value is None else value.astimezone(self.tz).strftime(fmt)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who the page is for, as the layout needs it (a page may be rendered for nobody: sign-in, 403)."""

    user: StaffUser | StaffBadge | None
    csrf_token: str | None
    staff: StaffContext | None = None

    @classmethod
    def of(cls, staff: StaffContext | None) -> Viewer:
        return cls(staff.user if staff else None, staff.csrf_token if staff else None, staff)


def render(
    request: Request,
    name: str,
    viewer: Viewer | StaffContext | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render templates/console/<name>.html.j2 for the viewer, in the request's language."""
    templates: ConsoleTemplates = request.app.state.console
    if not isinstance(viewer, Viewer):
        viewer = Viewer.of(viewer)
    lang, chosen_now = request_language(request)
    page = templates.env.get_template(f"console/{name}.html.j2").render(
        t=templates.translations.bound(lang),
        lang=lang,
        lang_urls={code.value: _with_query(request, lang=code.value) for code in Language},
        user=viewer.user,
        csrf=viewer.csrf_token or "",
        csrf_field=CSRF_FIELD,
        csrf_header=CSRF_HEADER,
        nav=visible_nav(viewer.user, templates.settings),
        current_path=request.url.path,
        **context,
    )
    response = HTMLResponse(page, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
    if chosen_now:
        response.set_cookie(LANGUAGE_COOKIE, lang, max_age=LANGUAGE_COOKIE_SECONDS, samesite="lax")
    return response


def _with_query(request: Request, **changes: str | int | None) -> str:
    params = {k: v for k, v in request.query_params.items() if k not in changes}
    params.update({k: str(v) for k, v in changes.items() if v is not None and v != ""})
    return request.url.path + ("?" + urlencode(params) if params else "")


def page_url(request: Request, **changes: str | int | None) -> str:
    """This page's URL with some query parameters changed (None or "": removed); `lang` is left out (the
    cookie remembers it)."""
    params = {k: v for k, v in request.query_params.items() if k not in changes and k != "lang"}
    params.update({k: str(v) for k, v in changes.items() if v is not None and v != ""})
    return request.url.path + ("?" + urlencode(params) if params else "")


@dataclass(frozen=True, slots=True)
class Pager:
    """Offset pagination for a page of `limit` rows: what the shared _pager.html.j2 shows."""

    total: int
    limit: int
    offset: int
    prev_url: str | None
    next_url: str | None

    @property
    def first(self) -> int:
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)

    @classmethod
    def of(cls, request: Request, total: int, limit: int, page: int) -> Pager:
        offset = (page - 1) * limit
        prev_url = page_url(request, page=page - 1 if page > 2 else None) if page > 1 else None
        next_url = page_url(request, page=page + 1) if offset + limit < total else None
        return cls(total, limit, offset, prev_url, next_url)
