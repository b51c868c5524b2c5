"""Staff users (agents, account managers, supervisors, admins) and their audit trail."""
