"""The aiogram FSM states of the forms the dialogue engine runs (DialogueState.fsm_state names them)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class BindForm(StatesGroup):
    account = State()  # waiting for the 10-digit account number
    phone = State()  # waiting for the last 4 digits of the registered phone
    code = State()  # waiting for the code sent by SMS to the registered phone (with an SMS gateway)


class FaultForm(StatesGroup):
    description = State()
    place = State()
    hazard = State()


class SurveyForm(StatesGroup):
    comment = State()  # after a low score: what went wrong (optional free text)


FORM_STATES = frozenset(s.state for group in (BindForm, FaultForm, SurveyForm) for s in group.__all_states__)
