"""Understanding without the NLU server (pure): keyword rules, and the words every form understands.

When Rasa is unreachable the bot keeps working through its buttons and these rules. They are deliberately
simple: the first rule that matches wins, so the more specific ones come first (a hazard before "停电",
"why … bill" before "bill", "检修停电" before "停电").
"""

from __future__ import annotations

import re

from core.dialogue.intents import APPLICATION_STATUS, APPLYING, FALLBACK
from core.faults.hazards import hazards_in

# Where one's own application stands (增容申请到哪一步了, where is my solar application), not how to apply.
_OWN_APPLICATION = (
    r"(?:申请|申請|报装|報裝|业扩|業擴|增容|减容|減容|充电桩|充電樁|光伏|并网|併網)"
    r".{0,12}(?:进度|進度|到哪|哪一步|哪个阶段|哪個階段|办好|辦好|批下来|批下來|批了|怎么样了|怎麼樣了)"
    r"|\b(?:status|progress|stage)\b.{0,30}\b(?:application|request)\b"
    r"|\b(?:application|request)\b.{0,30}\b(?:status|progress|stage)\b"
    r"|\bwhere(?:'s| is| are)\b.{0,30}\b(?:my|our)\b.{0,30}\b(?:application|request)\b"
)
_RULES: tuple[tuple[str, str], ...] = (
    ("complaint", r"投诉|投訴|\bcomplain"),
    ("human_handoff", r"转人工|轉人工|人工|真人|客服|\bhuman\b|\bagent\b|\b(?:real )?person\b|\boperator\b"),
    (
        "report_fault",
        r"报修|報修|故障|跳闸|跳閘|总闸|總閘|短路|\breport (?:a )?fault\b|\bfault\b|\btripp?(?:ed|ing|s)?\b"
        r"|\bbreaker\b|\bshort circuit\b",
    ),
    (
        "unsubscribe_notices",
        r"退订|退訂|取消订阅|取消訂閱|别再推送|別再推送|不要推送|不要再发|\bunsubscribe\b|\bstop (?:sending|notif)",
    ),
    ("subscribe_notices", r"订阅|訂閱|提前告诉|提前告訴|提前通知|\bsubscribe\b|\bnotify me\b|\blet me know\b"),
    ("faq_arrears_reconnection", r"复电|復電|欠费停电|欠費停電|恢复供电|恢復供電|\breconnect"),
    (
        "planned_outage_query",
        r"计划停电|計劃停電|检修|檢修|停电计划|停電計劃|\bplanned\b|\bmaintenance\b|\bscheduled\b",
    ),
    (
        "outage_status",
        r"停电|停電|没电|沒電|断电|斷電|黑了|来电|來電|\boutage\b|\bpower cut\b|\bno power\b|\bblackout\b"
        r"|\bpower (?:is )?(?:off|out|back)\b",
    ),
    ("application_status", _OWN_APPLICATION),  # before the "how do I apply" topics below
    ("faq_new_connection", r"新装|新裝|报装|報裝|业扩|業擴|开户|開戶|\bnew connection\b"),
    ("faq_capacity_change", r"增容|减容|減容|\bcapacity\b"),
    ("faq_ev_charger", r"充电桩|充電樁|\bev\b|\bcharger\b|\bcharging (?:point|pile|station)\b"),
    ("faq_rooftop_solar", r"光伏|太阳能|太陽能|\bsolar\b"),
    ("faq_electrical_safety", r"安全用电|安全用電|用电安全|用電安全|\belectrical safety\b|\bsafety\b"),
    ("faq_energy_saving", r"节电|節電|省电|省電|节能|節能|\bsave (?:energy|electricity|power)\b|\benergy[- ]saving\b"),
    ("faq_meter_reading", r"抄表|电表|電錶|电表读数|\bmeter\b"),
    (
        "bill_explain",
        r"(?:为什么|為什麼|为啥|為啥|怎么|怎麼).{0,8}(?:电费|電費|账单|賬單)|(?:电费|電費).{0,6}(?:这么高|這麼高|高|贵|貴|不对|不對)"
        r"|账单.{0,4}(?:解读|明细)|\bwhy\b.{0,20}\bbill\b|\bbill\b.{0,20}\b(?:high|wrong|explain)|\bexplain\b",
    ),
    (
        "usage_query",
        r"用电量|用電量|用了多少电|用了多少電|几度|幾度|多少度"
        r"|\busage\b|\bkwh\b|\bconsumption\b|\bhow much (?:electricity|power)\b",
    ),
    (
        "tariff_query",
        r"电价|電價|峰谷|阶梯|階梯|谷电|谷電|峰时|峰時|\btariff\b|\bprices?\b|\brates?\b|\bpeak\b|\bvalley\b",
    ),
    (
        "payment_methods",
        r"缴费|繳費|交费|交費|支付|怎么付|怎麼付|代扣|充值|\bpay(?:ment)?\b|\bauto-?debit\b|\btop[- ]?up\b",
    ),
    (
        "bill_amount",
        r"电费|電費|欠费|欠費|余额|餘額|账单|賬單|多少钱|多少錢"
        r"|\bbill\b|\bbalance\b|\bowe\b|\bamount due\b|\barrears\b",
    ),
    ("bind_account", r"绑定|綁定|户号|戶號|解绑|解綁|\bbind\b|\bunbind\b|\blink (?:my )?account\b|(?<!\d)\d{10}(?!\d)"),
    ("help", r"帮助|幫助|你能做什[么麼]|你[会會]什[么麼]|有什[么麼]功能|\bwhat can you do\b|^\s*help\W*$"),
    ("thanks", r"谢谢|謝謝|感谢|感謝|多谢|多謝|\bthanks?\b|\bthank you\b"),
    ("goodbye", r"再见|再見|拜拜|\bbye\b|\bgoodbye\b"),
    ("greet", r"你好|您好|哈喽|哈囉|在吗|在嗎|\bhello\b|\bhi\b|\bhey\b|\bgood (?:morning|afternoon|evening)\b"),
)
RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (intent, re.compile(pattern, re.IGNORECASE)) for intent, pattern in _RULES
)

_OWN_APPLICATION_RE = re.compile(_OWN_APPLICATION, re.IGNORECASE)
_PUNCT = re.compile(r"[\s\W_]+", re.UNICODE)
_CANCEL = re.compile(r"^(?:取消|算了|不用了|不要了|退出|cancel|stop|quit|nevermind|never mind|exit)$", re.IGNORECASE)
_YES = re.compile(r"^(?:是|是的|有|有的|对|對|嗯|危险|危險|yes|y|yeah|yep|yup|there is)$", re.IGNORECASE)
_NO = re.compile(r"^(?:否|不|没有|沒有|无|無|不是|没|沒|no|n|nope|none|not really)$", re.IGNORECASE)
_UNBIND = re.compile(r"解绑|解綁|解除绑定|解除綁定|\bunbind\b|\bunlink\b|\bremove (?:my )?account\b", re.IGNORECASE)
_LANGUAGE = {
    "en": re.compile(r"^(?:english|英文|英语|英語|说英文|說英文|speak english)$", re.IGNORECASE),
    "zh": re.compile(r"^(?:chinese|中文|汉语|漢語|普通话|普通話|说中文|說中文)$", re.IGNORECASE),
}
_PROGRESS = re.compile(
    r"进度|進度|进展|進展|处理到哪|處理到哪|报修单|報修單|工单|工單|师傅.{0,8}(?:什么时候|什麼時候|几点|幾點|啥时候)"
    r"|\b(?:status|progress|update)\b.{0,30}\b(?:repair|report|ticket|fault|job)"
    r"|\b(?:repair|report|ticket|fault)\b.{0,30}\b(?:status|progress|update)\b"
    r"|\bwhen (?:will|is|does) the (?:crew|engineer|technician|repairman|electrician)\b",
    re.IGNORECASE,
)
ACCOUNT_NUMBER = re.compile(r"(?<!\d)(\d{10})(?!\d)")
FOUR_DIGITS = re.compile(r"(?<![\d/.-])(\d{4})(?![\d年/.-])")  # not a year (2026年, 2026-10)
ANY_DIGITS = re.compile(r"\d{3,}")
NUMBER_ONLY = re.compile(r"\d[\d\s-]*")


# "Is it …?": 吗 / 么 / 是不是 / 有没有 / a question mark / an English yes-no question
_YES_NO_QUESTION = re.compile(
    r"[吗嗎么麼][\s\W]*$|是不是|有没有|有沒有|[?？]|^\s*(?:is|are|any|do|does|did)\b", re.IGNORECASE
)


def _compact(text: str) -> str:
    return _PUNCT.sub(" ", text).strip()


def asks_own_application(text: str) -> bool:
    """Where the customer's own application stands, in words no "how do I apply" question uses."""
    return bool(_OWN_APPLICATION_RE.search(text))


def second_opinion(intent: str, text: str) -> str:
    """The intent the dialogue acts on, given the model's: when the model is unsure (nlu_fallback), the keyword
    rules' (before the "I did not understand" menu); when it took a question about where one's own application
    stands for "how do I apply" (the two share their words), the status; else the model's."""
    if intent == FALLBACK:
        second = match_intent(text)
        return second if second != FALLBACK else intent
    if intent in APPLYING and asks_own_application(text):
        return APPLICATION_STATUS
    return intent


def match_intent(text: str) -> str:
    """The intent the keyword rules find in `text`, or nlu_fallback."""
    if hazards_in(text):
        return "report_fault"
    for intent, pattern in RULES:
        if pattern.search(text):
            return intent
    return FALLBACK


def is_cancel(text: str) -> bool:
    return bool(_CANCEL.match(_compact(text)))


def yes_or_no(text: str) -> bool | None:
    compact = _compact(text)
    if _YES.match(compact):
        return True
    if _NO.match(compact):
        return False
    return None


def wants_unbind(text: str) -> bool:
    return bool(_UNBIND.search(text))


def language_asked(text: str) -> str | None:
    compact = _compact(text)
    return next((language for language, pattern in _LANGUAGE.items() if pattern.match(compact)), None)


def account_number_in(text: str) -> str | None:
    found = ACCOUNT_NUMBER.search(text)
    return found.group(1) if found else None


def last4_in(text: str) -> str | None:
    found = FOUR_DIGITS.search(text)
    return found.group(1) if found else None


def asks_progress(text: str) -> bool:
    """A question about a fault report already made (报修进度, where is the crew, the status of my repair)."""
    return bool(_PROGRESS.search(text))


def asks_whether(text: str) -> bool:
    """A yes-no question (现在停电了吗 / is there a power cut?), as opposed to a statement (我家停电了)."""
    return bool(_YES_NO_QUESTION.search(text))


def is_number(text: str) -> bool:
    """Only digits (spaces and dashes between them allowed): a form's answer, whatever the NLU made of it."""
    return bool(NUMBER_ONLY.fullmatch(text.strip()))


def has_digits(text: str) -> bool:
    return bool(ANY_DIGITS.search(text))
