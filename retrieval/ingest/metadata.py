"""Document metadata (title, organisation and aliases, years, kind, period, date, issuer, 文号) derived from the
text and the page fields (the human-edited `corpus/metadata.yaml` overrides them: retrieval.corpus.overrides).

The parts: retrieval.ingest.titles (top lines, title, kind, period, issuer, 文号), .organisations, .dates.
"""
from __future__ import annotations

import re
from typing import Mapping

from retrieval.ingest.dates import YEAR, covered_years, published_date
from retrieval.ingest.frontmatter import meeting_place, signature_of
from retrieval.ingest.organisations import (ORG_TYPES, Organisation, administrative_organisation, choose_organisation,
                                            org_mentions, signing_body)
from retrieval.ingest.titles import (doc_number_of, file_stem, find_title, header_lines_of, is_prose, issuer_of, kind_of,
                                     period_of, top_lines)
from retrieval.types import DocumentMeta
# Kept importable from here for one release (their homes: dates, organisations, titles).
from retrieval.ingest.dates import date_in as _date_in  # noqa: F401,E402
from retrieval.ingest.organisations import organisation_names  # noqa: F401,E402

# Raised when metadata is derived differently, so that an index holding the old metadata is built again.
# 2: organisations among China's divisions (level, parent chain, code, speaker; retrieval.text.gazetteer).
METADATA_VERSION = 2
UNKNOWN_ORG = "（未识别）"


# --- the whole record ------------------------------------------------------------------------------------------

def complete_title(title: str, org: Organisation | None, years: list[int]) -> str:
    """A title that names no organisation ("政府工作报告", "2021年工作总结", "高新区2024年工作规划")
    gets the organisation and, if it has none, the year: "鹅湖镇2020年政府工作报告"."""
    if org is None or org_mentions(title) or (org.level in ("省", "市", "县") and (org.short in title or org.full in title)):
        return title
    if not YEAR.search(title) and years:
        title = f"{years[-1]}年{title}"
    for spelling, org_type in ORG_TYPES.items():
        if title.startswith(spelling) and org_type == org.org_type:
            return org.name + title                     # 高新区2024年工作规划 → 如皋高新区2024年工作规划
    return org.full + title


def derive_metadata(doc_id: str, text: str, sha256: str, fields: Mapping[str, str] | None = None) -> DocumentMeta:
    """Metadata read off the title line(s), the page's fields (CleanedText.fields), the body and, last,
    the file name; `metadata.yaml` may correct it afterwards."""
    fields = fields or {}
    lines = top_lines(text)
    stem = file_stem(doc_id)
    found_title, title_index = find_title(lines)
    title = found_title or stem
    headers = header_lines_of(lines, title_index)
    # The whole title line counts (the notice's issuer too), unless it runs on into the body.
    title_line = lines[title_index] if found_title and not is_prose(lines[title_index]) else found_title
    org = choose_organisation(text, title_line, fields, stem, headers)
    signatures = [signature for signature in map(signature_of, lines) if signature]
    if org is None or not org.named_up_front:
        # A 街道/镇/开发区 named only in the body of a province's or city's report is one it speaks about. The
        # title, the meeting line and the signature say whose report it is; header lines, page fields and the
        # file name may name the site that published it, so there a division that contains the body's
        # organisation (the county of a 街道 whose page it is) does not replace it.
        delivered = [title_line, *filter(None, map(meeting_place, lines)), *(s.body for s in signatures)]
        published_by = [*headers, *(fields.get(key, "") for key in ("issuer", "source", "breadcrumb")), stem]
        division = administrative_organisation([source for source in delivered if source], text)
        if division is None:
            division = administrative_organisation([source for source in published_by if source], text)
            if division is not None and org is not None and division.full in org.parents:
                division = None
        org = division or org
    kind = kind_of(title)
    published = published_date(lines, text, fields)
    years = covered_years(title, kind, text, lines, title_index, published, stem)
    issuer = issuer_of(lines, text, fields) or next(
        (signing_body(s.body, org) for s in signatures if re.search(r"(?:人民政府|政府|办事处|管委会)$", s.body)), "")
    return DocumentMeta(
        doc_id=doc_id, title=complete_title(title, org, years), org=org.short if org else UNKNOWN_ORG,
        aliases=tuple(a for a in org.aliases if a != org.short) if org else (), years=tuple(years), kind=kind,
        sha256=sha256, period=period_of(title), published=published, issuer=issuer,
        doc_number=doc_number_of(text, fields), level=org.level if org else "", parents=org.parents if org else (),
        code=org.code if org else "", speaker=signatures[0].name if signatures else "")
