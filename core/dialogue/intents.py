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

# Answers about one utility account: shown only after the account is bound (verified).
ACCOUNT_INTENTS = frozenset({"bill_amount", "bill_explain", "usage_query", "tariff_query"})

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
        OUT_OF_SCOPE,
        FALLBACK,
    }
    | FAQ_INTENTS
)

# What a message with these intents may interrupt a form for (anything else is read as the form's answer).
NOT_AN_INTERRUPTION = frozenset({FALLBACK, OUT_OF_SCOPE, "greet", "thanks", "feedback", "outage_ack"})
