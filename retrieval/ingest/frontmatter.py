"""Lines above a report's body that are its metadata, not headings: the speaker's signature
("河北省人民政府省长 王正谱"), the meeting line ("——2026年1月26日在河北省第十四届人民代表大会第四次会议上")
and the salutation ("各位代表：")."""
from __future__ import annotations

import re
from dataclasses import dataclass

_CJK = "\u4e00-\u9fff"
# Offices that sign a government's report or plan, longest first (自治区人民政府主席, 管委会主任 …).
OFFICES = ("省长", "代省长", "市长", "代市长", "区长", "代区长", "县长", "代县长", "州长", "盟长", "旗长", "镇长", "乡长",
           "主席", "主任", "书记", "街道办事处主任")
_SIGNATURE = re.compile(
    rf"^(?P<body>[{_CJK}（）()]{{0,24}}?)(?P<office>{'|'.join(sorted(OFFICES, key=len, reverse=True))})"
    rf"(?P<space>[\s\u3000]*)(?P<name>[{_CJK}·]{{2,4}})$")
# The body before the office names a government or office ("河北省人民政府", "甘肃省", "自治区人民政府").
_UNSPACED_SIGNING_BODY = re.compile(r"(?:人民政府|政府|办事处|管委会|党工委|党委|自治区|省|市|区|县|州|盟|旗)$")
_SIGNING_BODY = re.compile(r"(?:人民政府|政府|办事处|管委会|管理委员会|党工委|党委|自治区|省|市|区|县|州|盟|旗|镇|乡|街道)$")
# "在XX省第十四届人民代表大会第四次会议上", "在云岭镇第六届人民代表大会第七次会议上", "在省十四届人大五次会议上".
_MEETING = re.compile(rf"在(?P<place>[{_CJK}]{{2,24}}?)(?:第?[一二三四五六七八九十\d]+届)?(?:人民代表大会|人大)")
_MEETING_LINE = re.compile(rf"^[—―\-－\s(（]*(?:(?:19|20)\d{{2}}|二[〇○零0][一二三四五六七八九十〇○零]{{2}})"
                           rf"\s*年[^。]{{0,12}}?在[^。]{{2,40}}?(?:会议|大会)上?\s*[)）]?$")
_SALUTATION = re.compile(r"^(?:各位代表|各位委员|同志们|各位领导)[：:！!，,]?$")


@dataclass(frozen=True)
class Signature:
    """A signature line: 河北省人民政府 · 省长 · 王正谱."""

    body: str           # the body written before the office ("河北省人民政府", "甘肃省"), "" when none
    office: str         # 省长 / 市长 / 主席 / 主任 …
    name: str           # the person: 王正谱


def signature_of(line: str) -> Signature | None:
    """The signature a short line is, or None: "省长　王予波", "自治区人民政府主席 张雨浦"."""
    core = line.strip()
    if len(core) > 32:
        return None
    match = _SIGNATURE.match(core)
    if not match:
        return None
    # Written without a space ("落实街道主任负责制"), office and name are a signature only when nothing, a
    # government or a province/city/county stands before them (省长王予波, 甘肃省省长任振鹤).
    body = match.group("body")
    if not match.group("space") and body and not _UNSPACED_SIGNING_BODY.search(body):
        return None
    if body and not _SIGNING_BODY.search(body):
        return None
    return Signature(match.group("body"), match.group("office"), match.group("name"))


def meeting_place(line: str) -> str:
    """The place whose people's congress heard the report ("在贵州省第十四届人民代表大会…" → 贵州省), or ""."""
    match = _MEETING.search(line)
    return match.group("place") if match else ""


def is_signature_or_meeting(line: str) -> bool:
    """A signature or a meeting line: who delivered the document, where and when."""
    core = line.strip()
    return bool(signature_of(core) or _MEETING_LINE.match(core))


def is_front_matter(line: str) -> bool:
    """A signature, a meeting line or a salutation: document metadata, never a section title."""
    core = line.strip()
    return bool(signature_of(core) or _MEETING_LINE.match(core) or _SALUTATION.match(core))
