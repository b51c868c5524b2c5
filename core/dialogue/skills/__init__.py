"""What the bot can do, one skill per file; the engine (core.dialogue.engine) routes each turn to one.

    binding.py        bind_account; bind, accounts, account:<id>, unbind:<id>; the "bind" form
    billing.py        bill_amount, bill_explain, usage_query, tariff_query (only with an account bound)
    applications.py   application_status: where the customer's own applications (业扩) stand
    bill_email.py     bill_email: the bound account's latest bill statement to the verified email address
    outages.py        outage_status, planned_outage_query
    faults.py         report_fault (and any message describing a hazard); fault:…; the "fault" form
    subscriptions.py  subscribe_notices, unsubscribe_notices; outage_ack and notice:… (NoticeResponder)
    bill_reminders.py subscribe_bill_reminders, unsubscribe_bill_reminders (bill due / arrears reminders)
    faq.py            faq_*; greet, thanks, goodbye, payment_methods, feedback; menu, start, help, unsupported
    handoff.py        human_handoff, complaint, the fallback streak → an escalation
    survey.py         survey:… (the satisfaction survey's stars and aspects); the "survey" form (the comment
                      after a low score); the survey after a thanks (the "thanked" trigger)

The order they are tried in is DialogueEngine.skills.
"""

from core.dialogue.skills.applications import ApplicationSkill
from core.dialogue.skills.base import Skill, SkillKit
from core.dialogue.skills.bill_email import BillEmailSkill
from core.dialogue.skills.bill_reminders import BillReminderSkill
from core.dialogue.skills.billing import BillingSkill
from core.dialogue.skills.binding import BindingSkill
from core.dialogue.skills.faq import FaqSkill, SmallTalkSkill
from core.dialogue.skills.faults import FaultSkill
from core.dialogue.skills.handoff import HandoffSkill
from core.dialogue.skills.outages import OutageSkill
from core.dialogue.skills.subscriptions import SubscriptionSkill
from core.dialogue.skills.survey import SurveySkill

__all__ = [
    "ApplicationSkill",
    "BillEmailSkill",
    "BillReminderSkill",
    "BillingSkill",
    "BindingSkill",
    "FaqSkill",
    "FaultSkill",
    "HandoffSkill",
    "OutageSkill",
    "Skill",
    "SkillKit",
    "SmallTalkSkill",
    "SubscriptionSkill",
    "SurveySkill",
]
