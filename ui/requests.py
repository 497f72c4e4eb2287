"""What app users type and what they are told back: checks of questions, aliases and years, and UserFacingError."""
from __future__ import annotations

import logging
import re

from retrieval.errors import InvalidQuery
from retrieval.validation import MAX_K, MAX_QUESTION_CHARS, MAX_YEAR, MIN_YEAR, validate_request

DEFAULT_K = 5
YEAR_RANGE = (MIN_YEAR, MAX_YEAR)
logger = logging.getLogger(__name__)
_LIST_SEPARATORS = re.compile(r"[,，、;；\s]+")


BACKEND_DOWN_MESSAGE = "检索服务暂时连接不上，这个问题没有查成。请稍后再问；一直如此请联系管理员检查 Milvus 服务。"


class UserFacingError(Exception):
    """A failure whose message (Chinese, saying what to do next) is meant for the app user."""


def parse_aliases(text: str) -> list[str]:
    """Aliases typed as "宝山, 吴淞街道、吴淞镇" -> ["宝山", "吴淞街道", "吴淞镇"] (order kept, repeats dropped)."""
    return list(dict.fromkeys(part for part in _LIST_SEPARATORS.split(text or "") if part))


def parse_years(text: str) -> list[int]:
    """Years typed as "2020, 2021" -> [2020, 2021].

    Raises:
        UserFacingError: a part is not a four-digit year in a sensible range.
    """
    years = []
    for part in _LIST_SEPARATORS.split(text or ""):
        if not part:
            continue
        digits = part.removesuffix("年")
        if not digits.isdigit() or not YEAR_RANGE[0] <= int(digits) <= YEAR_RANGE[1]:
            raise UserFacingError(f"年份「{part}」看不懂。请写四位数字，例如 2021；多个年份用逗号隔开，例如 2020, 2021。")
        years.append(int(digits))
    if not years:
        raise UserFacingError("请至少填一个年份，例如 2021。")
    return sorted(set(years))


def check_request(question: object, k: object = DEFAULT_K, year: object = None) -> str:
    """validate_request with the reason in Chinese (the app and the API say the same, with the same limits).

    Returns the stripped question. Raises UserFacingError naming the bad value and what to do.
    """
    try:
        return validate_request(question, k=k, year=year)
    except InvalidQuery as error:
        logger.info("rejected request: %s", error)
        if not isinstance(question, str):
            message = f"question 必须是文字，现在是 {type(question).__name__}。"
        elif not question.strip():
            message = "请先输入问题，例如：吴淞今年拆违任务多少平方米。"
        elif len(question.strip()) > MAX_QUESTION_CHARS:
            message = f"问题太长（{len(question.strip())} 字），最多 {MAX_QUESTION_CHARS} 字。请一次只问一件事，把问题写短一些。"
        elif isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            message = f"k 必须是 1 到 {MAX_K} 之间的整数，现在是 {k!r:.80}。"
        elif year is not None:
            message = f"年份必须是 {MIN_YEAR} 到 {MAX_YEAR} 之间的整数，现在是 {year!r:.80}。不限年份请不传 year。"
        else:
            message = "问题里有无法识别的字符（控制字符或残缺的字符）。请删掉它们，或重新输入问题。"
        raise UserFacingError(message) from error
