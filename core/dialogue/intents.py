"""The intent names of the NLU contract (nlu/domain.yml) and how the dialogue groups them."""

from __future__ import annotations

FALLBACK = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"

FAQ_INTENTS = frozenset(
    {
        "faq_new_connection",
        "faq_capacity_change",
        "faq_ev_charger",
        "faq_rooftop_solar",
        "faq_electrical_safety",
        "faq_energy_saving",
        "faq_meter_reading",
        "faq_arrears_reconnection",
    }
)

# Answers about one utility account: shown only after the account is bound (verified). The tariff is public
# (the residential one before binding, the account's own once bound), like payment methods and outages.
ACCOUNT_INTENTS = frozenset({"bill_amount", "bill_explain", "usage_query"})
# Where the customer's own application (业扩) stands: a bound account's, or a key-account contact's (recognised by
# their Telegram chat); anyone else is asked to bind first (core.dialogue.skills.applications).
APPLICATION_STATUS = "application_status"
# The latest bill's statement to the customer's verified email (core.dialogue.skills.bill_email); bind first.
BILL_EMAIL = "bill_email"
# The FAQ topics on how to apply (业扩): a question naming one's own application and where it stands is the status.
APPLYING = frozenset({"faq_new_connection", "faq_capacity_change", "faq_ev_charger", "faq_rooftop_solar"})
# Bill-due and arrears reminders turned on / off (core.dialogue.skills.bill_reminders); not outage notices.
SUBSCRIBE_BILL_REMINDERS = "subscribe_bill_reminders"
UNSUBSCRIBE_BILL_REMINDERS = "unsubscribe_bill_reminders"
# The service the guides ask for beyond bills and outages: never what went wrong, nor where (a form's answer).
KEY_ACCOUNT_SERVICE = frozenset({APPLICATION_STATUS, BILL_EMAIL, SUBSCRIBE_BILL_REMINDERS, UNSUBSCRIBE_BILL_REMINDERS})
HELP = "help"  # what the bot can do
INFORM = "inform"  # a follow-up giving only a period ("and august?"): the last question again

INTENTS = frozenset(
    {
        "greet",
        "goodbye",
        "thanks",
        "bind_account",
        "bill_amount",
        "bill_explain",
        "usage_query",
        "tariff_query",
        "payment_methods",
        "outage_status",
        "planned_outage_query",
        "report_fault",
        "outage_ack",
        "complaint",
        "human_handoff",
        "feedback",
        "subscribe_notices",
        "unsubscribe_notices",
        APPLICATION_STATUS,
        BILL_EMAIL,
        SUBSCRIBE_BILL_REMINDERS,
        UNSUBSCRIBE_BILL_REMINDERS,
        HELP,
        INFORM,
        OUT_OF_SCOPE,
        FALLBACK,
    }
    | FAQ_INTENTS
)

# What a message with these intents may NOT interrupt a form for (it is read as the form's answer); anything
# else is a question asked inside the form: answered (out of scope: declined), and the form offered again.
NOT_AN_INTERRUPTION = frozenset({FALLBACK, "greet", "thanks", "feedback", "outage_ack"})
