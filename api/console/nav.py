"""The console's navigation: one entry per page, with the permission that shows it. The layout's nav and the
home page list the entries the signed-in user's role may see (the route itself still checks, with
require_page). A new page adds its entry here, and `nav.<key>` and `home.<key>` strings to both locale files."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from api.deps import ANY_STAFF, Guarded, StaffBadge
from core.config import Settings
from core.models import StaffUser
from core.staff.permissions import Permission, access


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str  # nav.<key> is its label, home.<key> its line on the home page
    path: str
    permission: Guarded
    shown: Callable[[Settings], bool] | None = None  # a page that exists only in some set-ups (None: always)


def mail_catcher_on(settings: Settings) -> bool:
    return settings.mail_catcher_dir is not None


NAV: tuple[NavItem, ...] = (
    NavItem("home", "/console", ANY_STAFF),
    NavItem("queue", "/console/queue", Permission.ESCALATIONS_HANDLE),
    NavItem("outages", "/console/outages", Permission.OUTAGES_READ),
    NavItem("tickets", "/console/tickets", Permission.TICKETS_HANDLE),
    NavItem("applications", "/console/applications", Permission.APPLICATIONS_MANAGE),
    NavItem("arrears", "/console/arrears", Permission.DELIVERIES_PERSONAL),
    NavItem("feedback", "/console/feedback", Permission.FEEDBACK_READ),
    NavItem("followups", "/console/followups", Permission.FEEDBACK_READ),
    NavItem("nlu", "/console/nlu", Permission.NLU_ANNOTATE),
    NavItem("audit", "/console/audit", Permission.AUDIT_READ),
    NavItem("mail", "/console/mail", Permission.AUDIT_READ, shown=mail_catcher_on),
)


def visible_nav(user: StaffUser | StaffBadge | None, settings: Settings | None = None) -> list[NavItem]:
    """The entries the user's role may see (and, given the settings, those this set-up has)."""
    if user is None:
        return []
    return [
        item
        for item in NAV
        if (item.permission == ANY_STAFF or access(user.role, Permission(item.permission)) is not None)
        and (item.shown is None or (settings is not None and item.shown(settings)))
    ]
