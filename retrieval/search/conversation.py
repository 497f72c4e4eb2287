"""Follow-up questions: fill in the organisation, year or topic a short follow-up leaves out from the previous turn.

"吴淞今年拆违任务多少平方米" then "那万里呢？" asks "万里今年拆违任务多少平方米": the follow-up names an
organisation but no topic, so the previous question is asked again with the organisation swapped.
"那垃圾分类呢？" names a topic but no organisation, so it inherits the previous organisation (and year).
A question that names both is left as it is. Nothing here is written for one phrase: organisations
are whatever the corpus metadata calls them (name and aliases), topics are whatever words remain.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from retrieval.types import QueryAnalysis

# Words that carry the conversation, not the content: "那万里呢？", "换成永兴的", "那2020年的情况怎么样".
FOLLOWUP_WORDS = (
    "那么", "那", "还有", "换成", "改成", "换到", "再看", "看看", "再问", "问一下", "请问", "的话", "怎么样",
    "如何", "情况", "是多少", "多少", "呢", "吗", "呀", "啊", "吧", "的", "是", "又", "也", "再", "和", "跟",
)
# A question that compares or ranks organisations must not be narrowed to the previous one.
CROSS_ORG_CUES = ("哪个街道", "哪些街道", "哪家", "哪个单位", "哪些单位", "各街道", "各个街道", "所有街道", "几个街道", "分别", "对比", "比较")

YEAR_PATTERN = re.compile(r"(?:19|20)\d{2}\s*年度?|(?<![0-9])(?:19|20)\d{2}(?![0-9])|今年|去年|明年|前年|本年度?")
HALF_PATTERN = re.compile(r"[上下]半年")
_PUNCTUATION = re.compile(r"[\s\u3000，。？！、,.?!：:；;“”\"'‘’（）()《》【】…—-]+")
_LEADING_FILLER = re.compile(r"^(?:那么|那|还有|另外|再问一下|再问|请问)[，,\s]*")
_TRAILING_FILLER = re.compile(r"(?:的情况|的话)?(?:呢|吗|呀|啊|吧)?(?=[？?！!。.\s]*$)")
MIN_TOPIC_CHARS = 2


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    text: str


@dataclass(frozen=True)
class _Slots:
    """What a question names besides its topic: organisation mentions, a year, a half year."""

    orgs: tuple[_Mention, ...]
    year: _Mention | None
    half: _Mention | None
    topic: str                      # what is left after removing the slots and the follow-up words


def _find_names(text: str, names: Sequence[str]) -> list[_Mention]:
    """Non-overlapping occurrences of the names, longest name first ("万里街道" before "万里")."""
    taken = [False] * len(text)
    found = []
    for name in sorted({n for n in names if n}, key=len, reverse=True):
        start = text.find(name)
        while start != -1:
            end = start + len(name)
            if not any(taken[start:end]):
                taken[start:end] = [True] * (end - start)
                found.append(_Mention(start, end, name))
            start = text.find(name, end)
    return sorted(found, key=lambda mention: mention.start)


def _first(pattern: re.Pattern, text: str) -> _Mention | None:
    match = pattern.search(text)
    return _Mention(match.start(), match.end(), match.group()) if match else None


def _slots(question: str, analysis: QueryAnalysis, org_names: Mapping[str, Sequence[str]]) -> _Slots:
    all_names = [name for names in org_names.values() for name in names]
    orgs = _find_names(question, all_names)
    if not orgs and analysis.orgs:
        # The analyser recognised an organisation we cannot point at: use its canonical name, span-less.
        canonical = next((names[0] for doc_id in analysis.orgs for names in [org_names.get(doc_id, ())] if names), "")
        if canonical:
            orgs = [_Mention(-1, -1, canonical)]
    year, half = _first(YEAR_PATTERN, question), _first(HALF_PATTERN, question)
    rest = question
    for mention in sorted([*orgs, *(m for m in (year, half) if m)], key=lambda m: m.start, reverse=True):
        if mention.start >= 0:
            rest = rest[: mention.start] + " " + rest[mention.end:]
    for word in sorted(FOLLOWUP_WORDS, key=len, reverse=True):
        rest = rest.replace(word, " ")
    topic = _PUNCTUATION.sub("", rest)
    return _Slots(tuple(orgs), year, half, topic)


def _replace(text: str, old: _Mention | None, new: str, insert_at: int) -> str:
    """Put `new` where `old` was, or insert it at `insert_at` when the text had no such mention."""
    if old is not None and old.start >= 0:
        return text[: old.start] + new + text[old.end:]
    return text[:insert_at] + new + text[insert_at:]


def _core(question: str) -> str:
    """The follow-up without its leading 那/还有 and trailing 呢/吗."""
    core = _LEADING_FILLER.sub("", question.strip())
    return _TRAILING_FILLER.sub("", core, count=1).strip()


def resolve_followup(
    question: str,
    previous_question: str | None,
    analyze: Callable[[str], QueryAnalysis],
    org_names: Mapping[str, Sequence[str]],
) -> str:
    """The question to ask the engine, given the previous (already resolved) question of the chat.

    Args:
        question: what the user typed now.
        previous_question: the question the previous turn asked the engine, None on the first turn.
        analyze: the engine's query analyser (`SearchEngine.analyze`); its `orgs` says whether an
            organisation is named at all.
        org_names: doc_id -> the names a user may type for its organisation, canonical name first
            (DocumentMeta.org, then its aliases).

    Returns:
        `question` unchanged when it stands on its own (or there is no previous turn); otherwise
        the previous question with the organisation / year the follow-up names swapped in, or the
        follow-up's topic with the previous organisation (and year) put in front.
    """
    question = question.strip()
    if not previous_question or not question:
        return question
    now = _slots(question, analyze(question), org_names)
    has_org = bool(now.orgs)
    has_topic = len(now.topic) >= MIN_TOPIC_CHARS
    if has_org and has_topic:
        return question
    before = _slots(previous_question, analyze(previous_question), org_names)

    if not has_topic:
        if not (has_org or now.year or now.half):
            return question                 # "呢？" alone: nothing to go on
        # Same question as before, with whatever slot the follow-up names swapped in. Replace from
        # the right-most mention leftwards so earlier offsets stay valid.
        edits: list[tuple[_Mention | None, str, int]] = []
        first_org = next((m for m in before.orgs if m.start >= 0), None)
        if has_org:
            edits.append((first_org, "".join(dict.fromkeys(m.text for m in now.orgs)), 0))
        org_end = first_org.end if first_org else 0
        if now.year:
            edits.append((before.year, now.year.text, org_end))
        if now.half:
            year_end = before.year.end if before.year and before.year.start >= 0 else org_end
            edits.append((before.half, now.half.text, year_end))
        text = previous_question
        def position(indexed: tuple[int, tuple[_Mention | None, str, int]]) -> tuple[int, int]:
            index, (old, _, insert_at) = indexed
            return (old.start if old is not None and old.start >= 0 else insert_at, index)

        for _, (old, new, insert_at) in sorted(enumerate(edits), key=position, reverse=True):
            text = _replace(text, old, new, insert_at)
        return text

    # A topic but no organisation: ask it about the previous turn's organisation, unless it compares organisations.
    if not before.orgs or any(cue in question for cue in CROSS_ORG_CUES):
        return question
    prefix = "".join(dict.fromkeys(m.text for m in before.orgs))
    if before.year and not now.year:
        prefix += before.year.text
    if before.half and not now.half and not now.year:
        prefix += before.half.text
    return prefix + _core(question)
