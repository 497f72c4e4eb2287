"""Text normalisation shared by questions and the BM25 tokenizer: traditional → simplified characters,
full-width letters and digits → ASCII, and Chinese numerals → Arabic ones, so 吳淞 finds 吴淞 and
三万平方米 / 十五分钟 find 3万平方米 / 15分钟 (and the other way round)."""
from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

_converter_lock = threading.Lock()
_converter = None

# Chinese full-width punctuation the rest of the code reads as it is; NFKC would turn it into ASCII.
_KEEP_FULL_WIDTH = set("，。：；！？（）“”‘’、《》「」【】〔〕…—～·")

# Measure words and units after which a Chinese numeral is an amount (三万平方米, 十五分钟, 两个, 第三位).
# Idioms and set phrases (一是, 十四五, 三农) are left alone: they are not followed by one of these.
_MEASURES = (
    "万平方米|平方米|平方公里|公里|千米|公顷|亩|吨|立方米|万元|亿元|元|个百分点|百分点|个月|个|家|辆|项|件|名|人次|人|户|所|栋|幢|座|"
    "条|次|场|批|处|台|套|间|张|本|支|位|轮|期|天|日|小时|分钟|秒|周|年|倍|起|宗|株|棵|盏|块|只|岁|米|万|亿|成|级|届|批次|余")
_CN_DIGITS = "零〇一二两三四五六七八九十百千"
_CN_NUMBER = re.compile(rf"(?<![{_CN_DIGITS}])([{_CN_DIGITS}]+(?:点[{_CN_DIGITS}]+)?)(?=(?:{_MEASURES}))")
_CN_PERCENT = re.compile(rf"百分之([{_CN_DIGITS}]+(?:点[{_CN_DIGITS}]+)?)")
_CN_YEAR = re.compile(r"([零〇一二三四五六七八九]{4})年")
_DIGIT_OF = {"零": "0", "〇": "0", "一": "1", "二": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7",
             "八": "8", "九": "9"}


def to_simplified(text: str) -> str:
    """Traditional characters to simplified ones (OpenCC t2s); simplified text is returned unchanged."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                try:
                    import opencc
                except ImportError as error:
                    raise ImportError("traditional-character questions need opencc: pip install opencc") from error
                _converter = opencc.OpenCC("t2s")
    return _converter.convert(text)


# What NFKC may change: neither ASCII, nor a unified CJK ideograph (which NFKC leaves alone), nor kept.
_MAY_FOLD = re.compile(f"[^\\x00-\\x7f\u4e00-\u9fff{re.escape(''.join(sorted(_KEEP_FULL_WIDTH)))}]+")


def fold_width(text: str) -> str:
    """Full-width letters, digits and symbols to ASCII (NFKC), keeping Chinese punctuation as it is."""
    return _MAY_FOLD.sub(lambda run: "".join(unicodedata.normalize("NFKC", ch) for ch in run.group()), text)


@lru_cache(maxsize=4096)
def _cn_to_arabic(numeral: str) -> str | None:
    import cn2an

    if len(numeral) > 1 and not any(ch in "十百千点" for ch in numeral):
        return None                                   # 一二期 is "phases one and two", not 12
    try:
        value = cn2an.cn2an(numeral.replace("两", "二").replace("〇", "零"), "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def arabic_numerals(text: str) -> str:
    """Chinese numerals that count something become Arabic: 三万平方米 → 3万平方米, 十五分钟 → 15分钟,
    百分之八十 → 80%, 二〇二一年 → 2021年. Numerals in set phrases (一是, 十四五) stay."""
    if not any(ch in _CN_DIGITS for ch in text):
        return text
    text = _CN_YEAR.sub(lambda m: "".join(_DIGIT_OF[ch] for ch in m.group(1)) + "年", text)
    text = _CN_PERCENT.sub(lambda m: f"{_cn_to_arabic(m.group(1))}%" if _cn_to_arabic(m.group(1)) else m.group(0),
                           text)
    return _CN_NUMBER.sub(lambda m: _cn_to_arabic(m.group(1)) or m.group(1), text)


def normalize_question(question: str) -> str:
    """The form a question is analysed and searched in: simplified characters, ASCII digits, no extra spaces."""
    question = fold_width(to_simplified(question))
    return re.sub(r"\s+", " ", question).strip()
