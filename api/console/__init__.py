"""The staff console: server-rendered pages (Jinja2, templates/console/) with htmx (served by the app at
/static/htmx.min.js, no CDN), in zh (default) and en.

Adding a page (e.g. the escalation queue):

1. A route in a router of this package (or a new module here whose router `install` includes), guarded by
   the page's permission and rendered with `render`:

       from api.console.render import render
       from api.deps import StaffContext, require_page

       @router.get("/queue")
       async def queue(
           request: Request,
           session: SessionDep,
           services: ServicesDep,
           staff: Annotated[StaffContext, Depends(require_page(Permission.ESCALATIONS_HANDLE))],
       ) -> Response:
           items = await services.escalations.queue(session, owner_id=staff.owner_id)
           return render(request, "queue", staff, items=items)

   `require_page` redirects to /console/login?next=<path> without a session (an htmx request gets 401 with
   HX-Redirect) and answers the 403 page to a role without the permission. It accepts the session cookie
   or a bearer token. `staff.access` is ALL or OWN; `staff.owner_id` is the user's id when OWN (pass it to
   the service as its filter), `staff.client` the address for the audit log, `staff.may(Permission.X)`
   the access to another permission (to show a button or not). tests/api/test_permissions.py checks every
   route declares a permission: a route without one fails it.

2. A template templates/console/queue.html.j2: `{% extends "console/base.html.j2" %}`, `{% block title %}`,
   `{% block content %}`. No words in it: every string is `t("queue.title")` (`t("key", n=3)` fills `{n}`),
   from templates/console/locale/zh.yml and en.yml (the same keys in both; a test checks). Times:
   `value|local` (the utility's timezone). Pagination: pass `pager=Pager.of(request, total, limit, page)`
   and `{% include "console/_pager.html.j2" %}`.

3. Actions (POST, PATCH, DELETE) need the session's CSRF token: htmx sends it by itself (base.html.j2 puts
   `hx-headers='{"X-CSRF-Token": ...}'` on <body>); a plain form adds
   `<input type="hidden" name="{{ csrf_field }}" value="{{ csrf }}">`. Without it require_page answers 403.
   After a change, answer the fragment htmx swaps in (render a partial template), or a 303 redirect for a
   plain form. Every control has a <label>; use <button> and <a href> so everything works from the keyboard.

4. A nav entry in api/console/nav.py (NAV: key, path, permission) and its `nav.<key>` / `home.<key>` strings.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from api.console import applications, arrears, escalations, feedback, nlu, outages
from api.console.pages import router
from api.console.render import ConsoleTemplates, Viewer, render
from api.deps import StaffDenied, login_url
from core.config import Settings

__all__ = ["install", "render"]


def install(app: FastAPI, settings: Settings) -> None:
    """Mount the console's routes and its answers to a refused request (sign in, or the 403 page)."""
    app.state.console = ConsoleTemplates(settings)
    app.include_router(router)
    app.include_router(escalations.router)
    app.include_router(nlu.router)
    app.include_router(outages.router)
    app.include_router(applications.router)
    app.include_router(arrears.router)
    app.include_router(feedback.router)

    @app.exception_handler(StaffDenied)
    async def _denied(request: Request, exc: StaffDenied) -> Response:
        if exc.status == 401:
            target = exc.next_path if request.method in ("GET", "HEAD") else "/console"
            if request.headers.get("HX-Request"):
                return Response(status_code=401, headers={"HX-Redirect": login_url(target)})
            return RedirectResponse(login_url(target), status_code=303)
        return render(request, "forbidden", Viewer(exc.user, exc.csrf_token), status_code=403, reason=exc.reason)
