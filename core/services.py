"""The domain services of one process, built once from its Settings (the composition roots — the api's
lifespan, `gridtalk bot`, `gridtalk worker`, the CLI — call `CoreServices.build`) and handed to the
transports. Services hold configuration only; every call takes the caller's session.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.clock import Clock
from core.config import Settings
from core.customers.service import IdentityService
from core.notices.confirmations import ConfirmationService, NoticeConfirmationResponder
from core.notices.planning import NoticePlanner
from core.notices.render import NoticeRenderer
from core.outages.queries import OutageQueries
from core.outages.service import OutageService
from core.outages.views import OutageViews
from core.templating import Renderer


@dataclass(frozen=True, slots=True)
class CoreServices:
    settings: Settings
    clock: Clock
    renderer: Renderer
    notice_renderer: NoticeRenderer
    planner: NoticePlanner
    outages: OutageService
    outage_views: OutageViews
    outage_queries: OutageQueries
    confirmations: ConfirmationService
    identities: IdentityService

    @classmethod
    def build(cls, settings: Settings, clock: Clock, renderer: Renderer | None = None) -> CoreServices:
        renderer = renderer or Renderer(settings.timezone)
        notice_renderer = NoticeRenderer(renderer)
        planner = NoticePlanner(clock, settings)
        return cls(
            settings=settings,
            clock=clock,
            renderer=renderer,
            notice_renderer=notice_renderer,
            planner=planner,
            outages=OutageService(clock, settings, planner),
            outage_views=OutageViews(clock, planner.rules, notice_renderer),
            outage_queries=OutageQueries(),
            confirmations=ConfirmationService(clock, settings),
            identities=IdentityService(clock),
        )

    def notice_responder(self) -> NoticeConfirmationResponder:
        """The dialogue's seam for notice confirmations (the Confirm / Problem buttons, "已收到")."""
        return NoticeConfirmationResponder(self.confirmations, self.notice_renderer)
