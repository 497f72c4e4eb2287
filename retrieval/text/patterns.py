"""Patterns of the domain that more than one layer reads: the 文号 of a 公文 and the periods a plan or report covers."""
from __future__ import annotations

import re

CJK = "\u4e00-\u9fff"
# 某府发〔2023〕5号 · 某办字[2021]第12号 · 某政【2020】3号: issuer characters, the year in brackets, the number.
DOC_NUMBER = re.compile(rf"[{CJK}]{{1,12}}[〔\[［【(（]\s*(?:19|20)\d{{2}}\s*[〕\]］】)）]\s*第?\s*\d+\s*号")
# The parts of a year a plan or summary may cover, as titles and questions name them.
PERIODS = ("上半年", "下半年", "一季度", "二季度", "三季度", "四季度")
