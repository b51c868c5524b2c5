"""Who may do what: the permission matrix of DESIGN.md (the README carries the same table), as data.

Every staff route declares one Permission; one dependency (api.deps.require) checks the signed-in staff
user's role against this matrix. `Access.OWN` means "only what concerns the key accounts this account
manager owns" (or, for an agent's follow-ups, their own): the route gets the access level and the service
filters by it.
"""

from __future__ import annotations

from enum import StrEnum

from core.models.enums import Role


class Permission(StrEnum):
    STAFF_MANAGE = "staff.manage"  # staff users: create, disable, change role
    AUDIT_READ = "audit.read"
    PLANNED_OUTAGES_MANAGE = "outages.planned.manage"  # create, edit, publish, cancel, complete
    FAULT_OUTAGES_DRAFT = "outages.fault.draft"  # create as draft, move the estimate
    FAULT_OUTAGES_PUBLISH = "outages.fault.publish"  # publish, restore
    OUTAGES_READ = "outages.read"  # outages and counts
    DELIVERIES_PERSONAL = "deliveries.personal"  # deliveries with names and account numbers
    ESCALATIONS_HANDLE = "escalations.handle"  # read, claim, reply, resolve
    ESCALATIONS_ASSIGN = "escalations.assign"  # assign to someone else
    TICKETS_HANDLE = "tickets.handle"  # read, change status
    APPLICATIONS_MANAGE = "applications.manage"  # create, advance
    FEEDBACK_READ = "feedback.read"  # reports, KPIs, follow-ups
    KPIS_READ = "kpis.read"  # the KPI dashboard (the KPIs of the row above: no agent, an account manager own)
    EXPORTS = "exports"  # CSV exports, customer export / erase
    NLU_ANNOTATE = "nlu.annotate"  # the NLU annotation inbox


class Access(StrEnum):
    ALL = "all"
    OWN = "own"  # own key accounts (account managers), own follow-ups (agents)


_A, _O = Access.ALL, Access.OWN

ROLE_PERMISSIONS: dict[Role, dict[Permission, Access]] = {
    Role.ADMIN: {p: _A for p in Permission},
    Role.SUPERVISOR: {p: _A for p in Permission if p is not Permission.STAFF_MANAGE},
    Role.AGENT: {
        Permission.FAULT_OUTAGES_DRAFT: _A,
        Permission.OUTAGES_READ: _A,
        Permission.ESCALATIONS_HANDLE: _A,
        Permission.TICKETS_HANDLE: _A,
        Permission.FEEDBACK_READ: _O,
    },
    Role.ACCOUNT_MANAGER: {
        Permission.OUTAGES_READ: _A,
        Permission.DELIVERIES_PERSONAL: _O,
        Permission.ESCALATIONS_HANDLE: _O,
        Permission.TICKETS_HANDLE: _O,
        Permission.APPLICATIONS_MANAGE: _O,
        Permission.FEEDBACK_READ: _O,
        Permission.KPIS_READ: _O,
    },
}


def access(role: str, permission: Permission) -> Access | None:
    """The role's access for the permission; None: not allowed."""
    return ROLE_PERMISSIONS.get(Role(role), {}).get(permission)
