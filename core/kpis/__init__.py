"""The KPI dashboard (the console's home for supervisors): bot containment, escalations and first-response
times against the target, CSAT, notice delivery and confirmation rates per stage and segment, NLU fallback
rate — over a period and per ISO week, counted by the database."""
