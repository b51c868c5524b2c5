"""The domain services of one process, built once from its Settings (the composition roots — the api's
lifespan, `gridtalk bot`, `gridtalk worker`, the CLI — call `CoreServices.build`) and handed to the
transports. Services hold configuration only; every call takes the caller's session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.applications.notices import ApplicationUpdates
from core.applications.service import ApplicationService
from core.applications.stages import StageRules
from core.billing.reminders import BillReminders
from core.billing.statements import BillStatements
from core.clock import Clock
from core.config import Settings
from core.conversations.outbound import CustomerMessenger
from core.customers.codes import VerificationCodes
from core.customers.service import CustomerAccounts, IdentityService
from core.escalation.policy import EscalationRules
from core.escalation.service import EscalationService
from core.escalation.views import EscalationViews
from core.faults.service import FaultTickets
from core.faults.updates import TicketUpdates
from core.feedback.followups import FollowUps
from core.feedback.reports import FeedbackReports
from core.feedback.surveys import SurveyService
from core.imports.service import DataImports
from core.kpis.dashboard import KpiService
from core.nlu_review.service import NluReview
from core.notices.confirmations import ConfirmationService, NoticeConfirmationResponder
from core.notices.outbox import available_channels
from core.notices.planning import NoticePlanner
from core.notices.render import NoticeRenderer
from core.notices.restoration import StillNoPower
from core.notices.starting import StageStarter
from core.operations.heartbeat import Heartbeats
from core.outages.overview import OutageOverview
from core.outages.queries import OutageQueries
from core.outages.service import OutageService
from core.outages.views import OutageViews
from core.staff.audit import AuditService
from core.staff.auth import StaffAuth
from core.staff.service import StaffService
from core.templating import Renderer


@dataclass(frozen=True, slots=True)
class CoreServices:
    settings: Settings
    clock: Clock
    renderer: Renderer
    notice_renderer: NoticeRenderer
    planner: NoticePlanner
    stage_starter: StageStarter
    outages: OutageService
    outage_views: OutageViews
    outage_queries: OutageQueries
    outage_overview: OutageOverview
    confirmations: ConfirmationService
    identities: IdentityService
    codes: VerificationCodes
    audit: AuditService
    staff_auth: StaffAuth
    staff: StaffService
    messenger: CustomerMessenger
    surveys: SurveyService
    feedback_reports: FeedbackReports
    followups: FollowUps
    escalations: EscalationService
    escalation_views: EscalationViews
    tickets: FaultTickets
    heartbeats: Heartbeats
    nlu_review: NluReview
    kpis: KpiService
    imports: DataImports
    applications: ApplicationService
    bill_reminders: BillReminders
    statements: BillStatements

    @classmethod
    def build(cls, settings: Settings, clock: Clock, renderer: Renderer | None = None) -> CoreServices:
        renderer = renderer or Renderer(settings.timezone)
        notice_renderer = NoticeRenderer(renderer)
        planner = NoticePlanner(clock, settings)
        audit = AuditService(clock)
        messenger = CustomerMessenger(clock)
        surveys = SurveyService.from_settings(settings, clock, renderer, messenger)
        escalations = EscalationService(
            clock,
            EscalationRules.from_settings(settings),
            CustomerAccounts(),
            messenger,
            renderer,
            audit,
            hotline=settings.service_hotline,
            channels=available_channels(settings),
            surveys=surveys,
        )
        statements = BillStatements(clock, planner)
        return cls(
            settings=settings,
            clock=clock,
            renderer=renderer,
            notice_renderer=notice_renderer,
            planner=planner,
            stage_starter=StageStarter(planner),
            outages=OutageService(clock, settings, planner, audit),
            outage_views=OutageViews(clock, planner, notice_renderer),
            outage_queries=OutageQueries(),
            outage_overview=OutageOverview(),
            confirmations=ConfirmationService(clock, settings),
            identities=IdentityService(clock),
            codes=VerificationCodes(clock, settings.secret_key.get_secret_value()),
            audit=audit,
            staff_auth=StaffAuth(clock, settings, audit),
            staff=StaffService(clock, audit),
            messenger=messenger,
            surveys=surveys,
            feedback_reports=FeedbackReports(clock, settings, audit),
            followups=FollowUps(clock, audit),
            escalations=escalations,
            escalation_views=EscalationViews(escalations),
            tickets=FaultTickets(clock, audit, TicketUpdates(messenger, renderer, settings.service_hotline)),
            heartbeats=Heartbeats(clock, timedelta(seconds=settings.worker_stale_seconds)),
            nlu_review=NluReview(clock, settings, audit),
            kpis=KpiService(clock, settings, FeedbackReports(clock, settings, audit)),
            imports=DataImports(clock, audit, settings.tz, statements),
            applications=ApplicationService(
                clock, StageRules.from_settings(settings), audit, ApplicationUpdates(clock, planner)
            ),
            bill_reminders=BillReminders(clock, settings, planner),
            statements=statements,
        )

    def notice_responder(self) -> NoticeConfirmationResponder:
        """The dialogue's seam for notice confirmations (the Confirm / Problem buttons, "已收到")."""
        return NoticeConfirmationResponder(
            self.confirmations, self.notice_renderer, StillNoPower(self.clock, self.settings.tz)
        )
