"""Applications (业扩报装): new connections, capacity changes, EV chargers and rooftop solar, tracked stage by stage.

stages.py      the pure rules: which stages a kind passes through, moving forward or back, the time limit
               of a stage in working days (GRIDTALK_APPLICATION_*)
repository.py  the SQL (applications, their events, who is told)
views.py       the shapes in and out of the service: a new application, a change, the views of one
service.py     ApplicationService: create, advance / reopen, link an outage, the staff's list and detail;
               the customer's own applications for the chat; every change audited and told
notices.py     a stage change told to the account's contacts or bound customers through the outbox, and how
               such an outbox row is rendered
"""
