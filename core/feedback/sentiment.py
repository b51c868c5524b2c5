"""The sentiment of a free-text feedback comment (pure): positive, neutral or negative, from the words used.

This is a small hand-written lexicon of utility customer service in Chinese (simplified and traditional) and
English with a handful of rules. It is NOT a model and it will get some comments wrong: it misses sarcasm
("谢谢你们让我在黑暗里过了三天", "great, another outage"), irony, and any praise or complaint in words it
does not list. It sorts comments for staff (complaints first, a count per week); it does not judge customers.

How a comment is read (`score`):

1. Normalised: full-width → half-width (NFKC), lower case, traditional → simplified for the characters the
   lexicon uses (`_TRADITIONAL`), "n't" / "cannot" / "dont" → "not", emoji modifiers dropped.
2. Cut into units — a Chinese character, an English word, an emoji or emoticon, a clause or sentence break —
   and read left to right, taking the longest lexicon entry at each point: "不错" is a word of its own, not
   不 + 错; "特别" is not 特 + 别; "no complaints" is not no + complaints.
3. Scored. Every word has a weight (+ praise, − complaint). A negator (不, 没, 没有, 不太, 一点也不; not,
   never, no, n't) flips the next word within `NEGATION_WINDOW` units of its clause ("不及时", "not helpful",
   "not bad"); a prohibitive one (别, 不要) flips praise but leaves a complaint a complaint ("别再敷衍了").
   An intensifier (很, 非常, 太, 有点; very, so, a bit) scales the next word; one after a word (死了, 极了;
   so much) scales that word. After a contrast (但是, 不过, 可是, 却; but, however) everything before counts
   half; a concessive clause (虽然; although) counts a quarter less. In a wish, a request or a question
   (希望, 建议, 请, 能不能, …吗, …?; hope, should, please, …?) praise does not count ("希望能及时通知" is no
   praise) but complaints do. Emoji and emoticons (👍 😊 😡 👎 :( ) score like words and are never negated.
4. The sum decides: above `THRESHOLD` positive, below −`THRESHOLD` negative, else neutral — so a comment
   with no scoring word, or with praise and complaint of the same weight, is neutral.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from core.models.enums import Sentiment

THRESHOLD = 0.3  # a score between -THRESHOLD and THRESHOLD is neutral
NEGATION_WINDOW = 3  # a negator reaches the word this many units ahead (intensifiers in between not counted)
INTENSIFIER_WINDOW = 2
NEGATED_PRAISE = -0.75  # "不及时", "not helpful": a complaint, a little weaker than the plain word
NEGATED_COMPLAINT = -0.4  # "不慢", "not bad": faint praise
CONTRAST = 0.5  # what came before 但是 / but counts half
CONCESSIVE = 0.75  # a 虽然 / although clause counts a quarter less


class Kind(StrEnum):
    WORD = "word"  # scores; a negator flips it
    EMOJI = "emoji"  # scores; never negated, counts in a wish or a question too
    NEGATOR = "negator"  # flips the next word (weight: how strongly)
    PROHIBITIVE = "prohibitive"  # 别 / 不要: flips praise, a complaint stays a complaint
    INTENSIFIER = "intensifier"  # scales the next word
    AFTER = "after"  # scales the word just before it (慢死了, thanks so much)
    CONTRAST = "contrast"  # 但是 / but: everything before counts less
    CONCESSIVE = "concessive"  # 虽然 / although: this clause counts less
    IRREALIS = "irrealis"  # 希望 / please: praise in the rest of the sentence does not count
    NEUTRAL = "neutral"  # looks like a word or a negator and is neither (你好, 不客气, 别人, not only)
    BREAK = "break"  # a clause break (, ; :) — ends a negation's or an intensifier's reach


@dataclass(frozen=True)
class Term:
    kind: Kind
    weight: float = 0.0


# ------------------------------------------------------------------------------------------------ the lexicon
# Chinese entries in simplified script only: traditional text is folded onto them first (_TRADITIONAL).
# Weights: 2 a strong verdict, 1.5 clear praise or complaint, 1 the ordinary word, 0.5 a mild one.
# (Laid out by hand, several entries a line: the formatter leaves it alone.)
# fmt: off

_ZH_POSITIVE: dict[float, tuple[str, ...]] = {
    2.0: ("无可挑剔", "再好不过", "非常满意", "五星好评", "特别满意"),
    1.5: (
        "满意", "好评", "五星", "满分", "完美", "优秀", "太棒", "给力", "点赞", "点个赞", "神速", "没得说", "没话说",
        "服务周到", "帮大忙", "帮了大忙", "值得表扬", "表扬", "感动", "佩服", "靠谱",
    ),
    1.0: (
        "快", "及时", "迅速", "高效", "效率高", "耐心", "细心", "热情", "周到", "贴心", "专业", "态度好", "服务好",
        "好", "不错", "解决", "搞定", "修好", "来电", "恢复", "谢谢", "感谢", "多谢", "谢了", "辛苦", "赞", "棒",
        "认真", "负责", "尽职", "到位", "准时", "守时", "方便", "便捷", "快捷", "清楚", "详细", "礼貌", "客气", "友好",
        "放心", "省心", "顺利", "愉快", "开心", "高兴", "喜欢", "好用", "有用", "有帮助", "帮助很大", "合理", "没毛病",
        "温暖", "感激", "准确", "明白", "难得", "耐烦",
    ),
    0.5: ("还行", "还好", "还可以", "没问题", "没有问题", "帮助", "简单", "没多久", "没过多久"),
}
_ZH_NEGATIVE: dict[float, tuple[str, ...]] = {
    2.0: ("垃圾服务", "忍无可忍", "岂有此理", "非常不满意", "特别不满意", "差评", "一星", "零分"),
    1.5: (
        "垃圾", "失望", "态度差", "态度恶劣", "恶劣", "差劲", "糟糕", "糟透", "敷衍", "推诿", "踢皮球", "没人管",
        "没人理", "没人来", "没人接", "没人回", "没人处理", "没有人管", "没有人来", "没有人理", "没有人接", "无人管",
        "无人接听", "不理不睬", "不管不问", "一直停电", "经常停电", "老是停电", "总是停电", "又停电", "天天停电",
        "频繁停电", "动不动就停电", "停电太久", "不满意", "不作为", "生气", "气死", "愤怒", "骗人", "坑人", "坑爹",
        "恶心", "讨厌", "受不了", "石沉大海", "无能", "失职", "傲慢", "黑心", "乱收费", "乱扣费", "一拖再拖", "不像话",
        "太过分", "过分", "离谱", "可恶",
    ),
    1.0: (
        "慢", "迟", "延迟", "拖延", "拖拉", "拖拖拉拉", "差", "投诉", "烂", "无语", "不满", "不耐烦", "冷漠", "冷淡",
        "粗鲁", "凶", "骂", "挂电话", "挂断", "没用", "无用", "没什么用", "没啥用", "白等", "浪费时间", "等了半天",
        "等半天", "等了很久", "好久", "半天没", "不回复", "不回", "没回复", "没有回复", "没反应", "打不通", "打不进",
        "联系不上", "找不到人", "解决不了", "修不好", "看不懂", "听不懂", "说不清", "麻烦", "贵", "多收", "乱扣",
        "错了", "不对", "不行", "不怎么样", "不过如此", "不管", "推卸", "伤心", "难过", "难受", "无奈", "无聊", "热死",
        "冻死", "损失", "赔偿", "效率低", "没效率", "难用", "没电", "停了好几次", "骗", "欺骗", "烦", "着急", "晚",
    ),
    0.5: ("一般", "一般般", "复杂", "急死", "快点", "快来", "快派", "将就", "凑合"),
}
_ZH_NEGATORS: dict[float, tuple[str, ...]] = {
    1.0: (
        "不", "没", "没有", "未", "未能", "无法", "毫无", "毫不", "从不", "从没", "一点也不", "一点都不", "一点也没",
        "不再",
    ),
    0.5: ("不太", "不怎么", "不够", "不是很", "没那么", "没有那么", "不大"),
}
_ZH_PROHIBITIVE = ("别", "别再", "不要", "不要再", "不用再", "不许")
_ZH_INTENSIFIERS: dict[float, tuple[str, ...]] = {
    1.5: (
        "非常", "太", "特别", "十分", "超", "超级", "真", "真的", "相当", "极", "极其", "最", "巨", "格外", "实在",
        "简直", "根本", "从来", "这么", "那么", "如此", "多么", "越来越", "又", "还是", "从来没这么", "从没这么",
        "从来没有这么",
    ),
    1.2: ("很", "挺", "蛮"),  # nearly obligatory before a Chinese adjective: bleached
    0.6: ("有点", "有点儿", "有些", "稍微", "略", "略微", "比较", "一点"),
}
_ZH_AFTER: dict[float, tuple[str, ...]] = {1.5: ("死了", "极了", "透了", "得很", "得不得了", "至极")}
_ZH_CONTRAST = ("但是", "但", "可是", "不过", "然而", "却", "只是", "就是")
_ZH_CONCESSIVE = ("虽然", "虽说", "虽", "尽管")
_ZH_IRREALIS = ("希望", "但愿", "建议", "要是", "如果", "应该", "能否", "能不能", "可不可以", "请", "期待")
_ZH_NEUTRAL = (
    # greetings, politeness, A-not-A questions, and words that merely contain a lexicon word
    "你好", "您好", "好的", "好像", "好多", "好几", "只好", "正好", "刚好", "好好", "好不容易", "好久不见", "不客气",
    "别客气", "不用谢", "不好意思", "对不起", "不得不", "不仅", "不但", "不只", "不光", "不管怎样", "不管怎么样",
    "不知道", "不知", "没关系", "没事", "没想到", "没什么", "是不是", "有没有", "好不好", "要不要", "会不会", "对不对",
    "行不行", "差不多", "差点", "出差", "误差", "差额", "差价", "别人", "别的", "别处", "分别", "区别", "级别", "告别",
    "识别", "个别", "类别", "尽快", "赶快", "快要", "快递", "快到", "凉快", "慢慢", "慢走", "未来", "贵公司", "贵司",
    "贵单位", "贵姓", "宝贵", "麻烦你", "麻烦您", "麻烦帮", "无论", "无所谓", "一般来说", "一般情况", "一般是",
    "一般都", "请问", "还是要", "就是说", "需要帮助", "负责人", "方便的话", "难道", "难怪", "难免", "晚上", "今晚",
    "昨晚", "傍晚", "晚饭", "晚间", "晚安",
)

_EN_POSITIVE: dict[float, tuple[str, ...]] = {
    2.0: ("could not be better", "can't thank you enough", "above and beyond", "five stars", "5 stars"),
    1.5: (
        "great", "excellent", "amazing", "awesome", "fantastic", "wonderful", "perfect", "outstanding", "superb",
        "brilliant", "impressed", "impressive", "love", "loved", "well done", "good job", "great job", "kudos", "best",
        "top notch", "lifesaver", "life saver", "no complaints", "can't complain", "could not ask for more",
        "want to thank", "wanted to thank", "like to thank", "keep up the good work",
    ),
    1.0: (
        "good", "nice", "quick", "quickly", "fast", "rapid", "prompt", "promptly", "timely", "on time", "efficient",
        "efficiently", "helpful", "helped", "useful", "polite", "politely", "courteous", "friendly", "kind", "patient",
        "patiently", "professional", "knowledgeable", "competent", "responsive", "reliable", "easy", "easily", "smooth",
        "smoothly", "convenient", "solved", "resolved", "fixed", "sorted", "satisfied", "happy", "pleased", "glad",
        "liked", "appreciate", "appreciated", "grateful", "thank", "thanks", "thx", "recommend", "improved",
        "attentive", "caring", "thorough", "informative", "accurate", "works now", "working now", "back on",
    ),
    0.5: (
        "explained", "fine", "decent", "ok now", "okay now", "clear", "better", "restored", "reasonable", "no problem",
        "no problems", "cheers",
    ),
}
_EN_NEGATIVE: dict[float, tuple[str, ...]] = {
    2.0: ("worst", "never again", "waste of time", "still no power", "nobody came", "no one came"),
    1.5: (
        "terrible", "awful", "horrible", "horrendous", "dreadful", "rude", "rudely", "useless", "incompetent",
        "unprofessional", "disappointed", "disappointing", "disappointment", "frustrated", "frustrating", "angry",
        "furious", "unhappy", "dissatisfied", "unsatisfied", "unacceptable", "ridiculous", "pathetic", "sucks",
        "rubbish", "garbage", "trash", "crap", "hate", "hated", "hung up", "overcharged", "unreliable", "nobody cares",
        "no one cares", "nobody answered", "no one answered", "took forever", "still waiting", "scam", "disgrace",
        "disgraceful", "shameful", "hopeless", "thanks for nothing", "thank you for nothing", "never came",
        "never showed up", "never arrived", "never called back", "never answered",
    ),
    1.0: (
        "bad", "poor", "poorly", "worse", "slow", "slowly", "late", "delay", "delays", "delayed", "impolite",
        "unfriendly", "unhelpful", "pointless", "lazy", "careless", "ignored", "ignore", "ignoring", "annoyed",
        "annoying", "upset", "complain", "complaint", "complaining", "no response", "no reply", "no answer", "no power",
        "without power", "without electricity", "wasted", "hang up", "confusing", "wrong", "mistake", "expensive",
        "not work", "not working", "for hours", "for days", "took ages", "again and again", "joke", "unresolved",
        "nothing happened", "nothing was done", "nothing done", "not help", "mess", "could be better", "crashing",
        "crashes", "crashed", "broken", "buggy", "not answer", "not answering", "not respond", "not responding",
        "not come", "not show up", "not call back",
    ),
    0.5: ("confused", "error", "mediocre", "meh", "hurry up", "so so"),
}
_EN_NEGATORS: dict[float, tuple[str, ...]] = {
    1.0: ("not", "never", "no", "nobody", "no one", "nothing", "none", "without", "not at all", "neither", "nor"),
    0.5: ("hardly", "barely", "not very", "not that", "not so", "not really", "not quite", "not exactly"),
}
_EN_PROHIBITIVE = ("stop",)
_EN_INTENSIFIERS: dict[float, tuple[str, ...]] = {
    1.5: (
        "very", "so", "really", "extremely", "super", "too", "absolutely", "totally", "incredibly", "highly", "truly",
        "such", "most", "completely", "utterly", "seriously", "always", "never been so", "never been this",
    ),
    0.6: ("a bit", "a little", "a little bit", "slightly", "kind of", "kinda", "somewhat", "rather", "quite"),
}
_EN_AFTER: dict[float, tuple[str, ...]] = {1.5: ("so much", "a lot", "very much")}
_EN_CONTRAST = ("but", "however", "except", "still")
_EN_CONCESSIVE = ("although", "though", "even though", "even if", "despite")
_EN_IRREALIS = ("hope", "hoping", "wish", "should", "please", "pls", "if", "would be nice", "could you", "can you")
_EN_NEUTRAL = (
    "not only", "but also", "nothing but", "no thanks", "no thank you", "not sure", "thank god", "good morning",
    "good afternoon", "good evening", "good night", "good bye", "as soon as possible", "as well", "no matter",
    "kind regards", "best regards", "so that", "so far", "no idea",
)

_EMOJI: dict[float, tuple[str, ...]] = {
    1.0: (
        "👍", "😊", "🙂", "😀", "😃", "😄", "😁", "😆", "☺", "❤", "💕", "💖", "💯", "🙏", "👏", "😍", "🥰", "🌹", "💐",
        "🎉", "👌", "✌", "😘", ":)", ":-)", ":d", ":-d", "=)", "^_^", "^^", "<3",
    ),
    -1.0: (
        "👎", "😡", "😠", "🤬", "😤", "😞", "😢", "😭", "💢", "🙄", "😒", "😩", "😫", "🤮", "💩", "😔", "😟", "☹", "🙁",
        "😓", "😰", ":(", ":-(", ":'(", "t_t", "t.t", ">:(", "-_-",
    ),
}

# Traditional (and Hong Kong / Taiwan) spellings of the lexicon's characters → simplified: folded before
# reading, so "態度很差" reads as "态度很差" (and 嗎 ends a question). A test checks that every entry spelt
# s2t / s2tw / s2hk reads the same. 著 and 覆 are also simplified characters; folding them is harmless here.
_TRADITIONAL = """
    並并 亂乱 來来 係系 個个 傷伤 僅仅 價价 儘尽 償偿 優优 兇凶 兒儿 凍冻 別别 剛刚 勁劲 動动 務务 區区 卻却 厭厌
    問问 單单 噁恶 夠够 實实 寶宝 將将 專专 對对 幫帮 幾几 從从 復复 惡恶 態态 憤愤 應应 掛挂 揚扬 損损 斷断 時时
    會会 業业 極极 樣样 歡欢 氣气 決决 沒没 況况 涼凉 湊凑 準准 溫温 滿满 為为 無无 煩烦 熱热 爛烂 爲为 當当 盡尽
    確确 禮礼 簡简 級级 細细 給给 經经 總总 繫系 罵骂 聯联 職职 聽听 興兴 著着 處处 蠻蛮 複复 覆复 見见 討讨 許许
    訴诉 評评 話话 該该 詳详 認认 語语 誤误 說说 説说 諉诿 請请 論论 謂谓 謝谢 識识 譜谱 議议 豈岂 負负 責责 貴贵
    費费 貼贴 賠赔 贊赞 趕赶 較较 這这 進进 過过 遞递 遲迟 還还 錯错 開开 間间 關关 雖虽 雜杂 離离 難难 電电 順顺
    頻频 題题 額额 願愿 類类 騙骗 魯鲁 麼么 點点 嗎吗 飯饭
"""

# fmt: on


# ------------------------------------------------------------------------------------------- building it
def _entries() -> Iterator[tuple[str, Term]]:
    scored: tuple[tuple[Mapping[float, tuple[str, ...]], Kind, float], ...] = (
        (_ZH_POSITIVE, Kind.WORD, 1.0),
        (_EN_POSITIVE, Kind.WORD, 1.0),
        (_ZH_NEGATIVE, Kind.WORD, -1.0),
        (_EN_NEGATIVE, Kind.WORD, -1.0),
        (_ZH_NEGATORS, Kind.NEGATOR, 1.0),
        (_EN_NEGATORS, Kind.NEGATOR, 1.0),
        (_ZH_INTENSIFIERS, Kind.INTENSIFIER, 1.0),
        (_EN_INTENSIFIERS, Kind.INTENSIFIER, 1.0),
        (_ZH_AFTER, Kind.AFTER, 1.0),
        (_EN_AFTER, Kind.AFTER, 1.0),
        (_EMOJI, Kind.EMOJI, 1.0),
    )
    for table, kind, sign in scored:
        for weight, words in table.items():
            for word in words:
                yield word, Term(kind, sign * weight)
    plain: tuple[tuple[tuple[str, ...], Kind], ...] = (
        (_ZH_PROHIBITIVE + _EN_PROHIBITIVE, Kind.PROHIBITIVE),
        (_ZH_CONTRAST + _EN_CONTRAST, Kind.CONTRAST),
        (_ZH_CONCESSIVE + _EN_CONCESSIVE, Kind.CONCESSIVE),
        (_ZH_IRREALIS + _EN_IRREALIS, Kind.IRREALIS),
        (_ZH_NEUTRAL + _EN_NEUTRAL, Kind.NEUTRAL),
    )
    for entries, kind in plain:
        for word in entries:
            yield word, Term(kind, 1.0)


@lru_cache(maxsize=1)
def lexicon() -> dict[tuple[str, ...], Term]:
    """Every entry, keyed by its units (as `units` cuts it). An entry listed twice is a mistake."""
    table: dict[tuple[str, ...], Term] = {}
    for word, term in _entries():
        key = tuple(units(word, squeeze=False))
        if not key or key in table:
            raise ValueError(f"sentiment lexicon: {word!r} is empty or listed twice")
        table[key] = term
    return table


@lru_cache(maxsize=1)
def _longest() -> int:
    return max(len(key) for key in lexicon())


@lru_cache(maxsize=1)
def _folding() -> dict[int, str]:
    return {ord(pair[0]): pair[1] for pair in _TRADITIONAL.split()}


# ---------------------------------------------------------------------------------------------- reading it
_NOT = (
    (re.compile(r"\bcan't\b|\bcannot\b"), "can not"),
    (re.compile(r"\bwon't\b"), "will not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\b(do|does|did|is|was|are|were|could|would|should|has|have|had)nt\b"), r"\1 not"),
    (re.compile(r"\bcant\b"), "can not"),
    (re.compile(r"\bwont\b"), "will not"),
)
_MODIFIERS = re.compile("[\ufe0f\ufe0e\u200d\U0001f3fb-\U0001f3ff]")
_EMOTICONS = sorted((e for e in _EMOJI[1.0] + _EMOJI[-1.0] if e.isascii()), key=len, reverse=True)
_UNIT = re.compile(
    "|".join(
        (r"(?<![a-z0-9])" if e[0].isalnum() else "") + re.escape(e) + (r"(?![a-z0-9])" if e[-1].isalnum() else "")
        for e in _EMOTICONS
    )
    + r"|[\U0001f000-\U0001faff\u2600-\u27bf\u2b50\u2b55]"  # an emoji
    + r"|[a-z0-9]+(?:'[a-z]+)?"  # an English word
    + r"|[\u3400-\u4dbf\u4e00-\u9fff]"  # a Chinese character
    + r"|[.!?。！？\n]+"  # the end of a sentence
    + r"|[,;:、，；：~()\[\]\"“”—-]"  # a clause break
)
_SENTENCE_END = frozenset(".!?。！？\n")
_CLAUSE_BREAK = frozenset(',;:、，；：~()[]"“”—-')
_REPEATS = re.compile(r"([a-z])\1{2,}")


def normalise(text: str) -> str:
    """Half-width, lower case, simplified script (for the lexicon's characters), "n't" → " not"."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    text = _MODIFIERS.sub("", text.translate(_folding()))
    for pattern, replacement in _NOT:
        text = pattern.sub(replacement, text)
    return text


def units(text: str, squeeze: bool = True) -> Iterator[str]:
    """The units of text, normalised: words, characters, emoji; "." ends a sentence ("?" a question), ","
    a clause. Squeezed, "soooo sloooow" reads as "so slow"."""
    for match in _UNIT.finditer(normalise(text)):
        unit = match.group()
        if unit[0] in _SENTENCE_END:
            yield "?" if "?" in unit or "？" in unit else "."
        elif unit in _CLAUSE_BREAK:
            yield ","
        else:
            yield _squeezed(unit) if squeeze else unit


def _squeezed(word: str) -> str:
    if not _REPEATS.search(word):
        return word
    for candidate in (_REPEATS.sub(r"\1\1", word), _REPEATS.sub(r"\1", word)):
        if (candidate,) in lexicon():
            return candidate
    return _REPEATS.sub(r"\1", word)


def _sentences(text: str) -> Iterator[tuple[list[str], bool]]:
    """(units, is it a question) per sentence."""
    sentence: list[str] = []
    for unit in [*units(text), "."]:
        if unit not in (".", "?"):
            sentence.append(unit)
            continue
        if sentence:
            yield sentence, unit == "?" or sentence[-1] == "吗"
        sentence = []


def _terms(sentence: list[str]) -> Iterator[tuple[str, Term | None]]:
    """The longest lexicon entry at each point; a unit that starts none comes out alone (None)."""
    table, i = lexicon(), 0
    while i < len(sentence):
        if sentence[i] == ",":
            yield ",", Term(Kind.BREAK)
            i += 1
            continue
        for length in range(min(_longest(), len(sentence) - i), 0, -1):
            term = table.get(tuple(sentence[i : i + length]))
            if term is not None:
                yield "".join(sentence[i : i + length]), term
                i += length
                break
        else:
            yield sentence[i], None
            i += 1


# ------------------------------------------------------------------------------------------------ scoring
@dataclass
class _Reading:
    """What is pending while one sentence is read."""

    question: bool
    wish: bool = False  # after 希望 / please, until a contrast
    concessive: bool = False  # in a 虽然 / although clause
    negation: float | None = None  # -1 × the negator's weight (+ after a double negation)
    prohibitive: bool = False
    steps: int = 0  # units read since the negator
    boost: float | None = None
    boost_steps: int = 0  # units read since the intensifier
    last_word: int | None = None  # index in the scores of the word just read (for 死了, so much)

    def step(self) -> None:
        self.steps, self.boost_steps = self.steps + 1, self.boost_steps + 1

    def negation_now(self) -> float | None:
        return self.negation if self.negation is not None and self.steps <= NEGATION_WINDOW else None

    def boost_now(self) -> float:
        return self.boost if self.boost is not None and self.boost_steps <= INTENSIFIER_WINDOW else 1.0

    def clause_break(self) -> None:
        self.negation, self.boost, self.concessive, self.last_word = None, None, False, None


def _read(sentence: list[str], question: bool, scores: list[float]) -> None:
    """Add the scores of one sentence's words to `scores` (a contrast also lowers those already there)."""
    reading = _Reading(question=question)
    terms = list(_terms(sentence))
    for i, (text, term) in enumerate(terms):
        if term is None or term.kind is Kind.NEUTRAL:
            reading.step()
            reading.last_word = None
            continue
        following = terms[i + 1][1] if i + 1 < len(terms) else None
        if text == "好" and following is not None and following.kind is Kind.WORD:
            term = Term(Kind.INTENSIFIER, 1.5)  # 好快, 好慢: "so", not "good"
        match term.kind:
            case Kind.BREAK:
                reading.clause_break()
            case Kind.CONTRAST:
                scores[:] = [score * CONTRAST for score in scores]
                reading.clause_break()
                reading.wish = False
            case Kind.CONCESSIVE:
                reading.concessive = True
            case Kind.IRREALIS:
                reading.wish = True
            case Kind.NEGATOR | Kind.PROHIBITIVE:
                reading.negation = -term.weight * (reading.negation_now() or 1.0)
                reading.prohibitive, reading.steps = term.kind is Kind.PROHIBITIVE, 0
            case Kind.INTENSIFIER:
                reading.boost, reading.boost_steps = term.weight * reading.boost_now(), 0
            case Kind.AFTER:
                if reading.last_word is not None:
                    scores[reading.last_word] *= term.weight
                reading.last_word = None
            case Kind.WORD | Kind.EMOJI:
                reading.step()
                scores.append(_word(term, reading))
                reading.last_word = len(scores) - 1


def _word(term: Term, reading: _Reading) -> float:
    """The score of one word in its place; it uses up the pending negation and intensifier."""
    concessive = CONCESSIVE if reading.concessive else 1.0
    if term.kind is Kind.EMOJI:
        return term.weight * concessive
    score = term.weight * reading.boost_now()
    negation = reading.negation_now()
    if negation is not None and not (reading.prohibitive and score < 0):
        score *= negation * (-NEGATED_PRAISE if score > 0 else -NEGATED_COMPLAINT)
    reading.negation, reading.boost = None, None
    if score > 0 and (reading.wish or reading.question):
        return 0.0  # 希望能及时 / is it fixed? is no praise
    return score * concessive


def score(text: str) -> float:
    """The comment's score: the sum of its words' weights in their places (see the module's docstring)."""
    scores: list[float] = []
    for sentence, question in _sentences(text):
        _read(sentence, question, scores)
    return sum(scores)


def sentiment_of(text: str) -> Sentiment:
    """Positive, neutral or negative: what a free-text comment's words say about the service."""
    value = score(text)
    if value > THRESHOLD:
        return Sentiment.POSITIVE
    if value < -THRESHOLD:
        return Sentiment.NEGATIVE
    return Sentiment.NEUTRAL
