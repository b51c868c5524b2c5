"""Reading a fault report (pure): is it a hazard, does it say "at my home", is it only "I want to report", is
it "no power here" (a power loss: counted on a known fault outage instead of a ticket each, core.faults.reports)?

Customers write simplified and traditional Chinese and English; the patterns cover all three. A hazard
(a fallen line, smoke, sparks, fire, a shock, an explosion) gets the safety instruction before anything
else and makes the ticket urgent.
"""

from __future__ import annotations

import re
from typing import Literal

HazardKind = Literal["fallen_line", "smoke", "sparks", "fire", "shock", "explosion"]

_LINE = r"(?:电线|電線|线路|線路|电缆|電纜|高压线|高壓線|电线杆|電線桿)"
_FALL = r"(?:掉|断|斷|落|垂|倒|塌|拖地|耷拉)"
_HAZARDS: tuple[tuple[HazardKind, re.Pattern[str]], ...] = (
    (
        "fallen_line",
        re.compile(
            rf"{_LINE}.{{0,4}}{_FALL}|{_FALL}.{{0,3}}{_LINE}|断线|斷線|线断|線斷|线掉|線掉"
            r"|\b(?:fallen|downed|broken|snapped|falling|dangling)\b.{0,25}\b(?:power ?lines?|lines?|wires?|cables?)\b"
            r"|\b(?:power ?lines?|lines?|wires?|cables?)\b.{0,25}"
            r"\b(?:down|fell|fallen|falling|on the ground|snapped|broken|hanging|sagging)\b",
            re.IGNORECASE,
        ),
    ),
    ("smoke", re.compile(r"冒烟|冒煙|起烟|起煙|烟雾|煙霧|有烟|有煙|\bsmok(?:e|ing|y)\b", re.IGNORECASE)),
    ("sparks", re.compile(r"火花|打火|冒火|电火|電火|拉弧|\bspark(?:s|ing|ed)?\b|\barcing\b", re.IGNORECASE)),
    (
        "fire",
        re.compile(
            r"起火|着火|著火|失火|火灾|火災|燃烧|燃燒|烧着|燒著|烧焦|燒焦|焦味|糊味|\bfire\b|\bflames?\b|\bburning\b",
            re.IGNORECASE,
        ),
    ),
    (
        "shock",
        re.compile(
            r"漏电|漏電|触电|觸電|电到人|電到人|被电|被電|\belectric(?:al)? shocks?\b|\bshocked\b|\belectrocut",
            re.IGNORECASE,
        ),
    ),
    ("explosion", re.compile(r"爆炸|炸了|\bexplo(?:sion|ded|de)\b", re.IGNORECASE)),
)

_HOME = re.compile(
    r"家门口|门口|門口|家里|家裡|我家|家中|屋里|屋裡|室内|室內|楼道|樓道|楼下|樓下|院子|电表箱|電錶箱|表箱"
    r"|总闸|總閘|电闸|電閘|空开|空開|漏保"
    r"|\bat home\b|\bmy (?:home|house|door|flat|apartment|building|yard|garden|meter)\b|\bfront door\b"
    r"|\boutside my\b|\b(?:my|main) (?:breaker|fuse ?box|switch ?board)\b",
    re.IGNORECASE,
)

_GENERIC = re.compile(
    r"^(?:我要|我想|请|請|想|帮我|幫我)?(?:报修|報修|故障报修|故障報修|报障|報障|报个修|報個修|报故障|報故障|报告故障|報告故障|维修|維修|修理)"
    r"(?:一下)?$"
    r"|^(?:i (?:want|would like|need) to )?(?:report|log) (?:a )?(?:fault|problem|power problem)$"
    r"|^(?:report (?:a )?fault|repair|fault report)$",
    re.IGNORECASE,
)
# "No power here": what a customer writes when the power is off (停电 / 没电 / power is out / blackout), and not
# a question about planned outages or about whether the power is back.
_POWER_LOSS = re.compile(
    r"停电|停電|没电|沒電|没有电|沒有電|断电|斷電|掉电|掉電|不来电|不來電|没来电|沒來電|无电|無電|黑了|全黑|一片黑"
    r"|\bno (?:power|electricity)\b|\bpower(?:'s| is| has| has gone| went)? (?:out|off|down|gone|cut)\b"
    r"|\b(?:power|electricity) (?:cut|outage|failure)\b|\bblack ?out\b|\blost (?:the )?power\b"
    r"|\bwithout (?:power|electricity)\b|\bhave no (?:power|electricity)\b",
    re.IGNORECASE,
)
_NOT_POWER_LOSS = re.compile(
    r"计划停电|計劃停電|检修停电|檢修停電|停电计划|停電計劃|停电通知|停電通知|欠费停电|欠費停電|来电了|來電了|有电了|有電了"
    r"|\bplanned\b|\bscheduled\b|\bpower (?:is )?back\b",
    re.IGNORECASE,
)
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


def hazards_in(text: str) -> tuple[HazardKind, ...]:
    """The kinds of hazard the text describes, in a fixed order (empty when none)."""
    return tuple(kind for kind, pattern in _HAZARDS if pattern.search(text))


def reports_power_loss(text: str) -> bool:
    """Whether the text says the power is off here (停电了 / 家里没电 / "the power is out"); a planned outage,
    a notice or "the power is back" is not a report of one."""
    return bool(_POWER_LOSS.search(text)) and not _NOT_POWER_LOSS.search(text)


def mentions_home(text: str) -> bool:
    """Whether the place is the customer's own home (门口, 家里, at my house ...)."""
    return bool(_HOME.search(text))


def is_generic_request(text: str) -> bool:
    """ "我要报修" / "report a fault": asks to report, says nothing about what happened."""
    compact = _NOISE.sub(" ", text).strip()
    if re.search(r"[\u4e00-\u9fff]", compact):
        compact = compact.replace(" ", "")
    return not compact or bool(_GENERIC.match(compact))
