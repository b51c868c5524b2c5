"""Outages: drafts, publication, reschedules, cancellation and completion; the notice planner (pure)."""
