"""Document metadata: title, organisation and aliases, years, kind, derived from the text and
overridden by the human-edited `corpus/metadata.yaml`."""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from retrieval.errors import RetrievalError
from retrieval.files import write_text_atomic
from retrieval.types import DocumentMeta

METADATA_FILE = "metadata.yaml"
KINDS = ("总结", "要点", "规划", "计划", "思路", "意见", "方案", "报告")
_ORG_IN_TITLE = re.compile(
    r"(?:(?P<district>[\u4e00-\u9fff]{2,3}?[区县市]))?(?P<name>[\u4e00-\u9fff]{2,4}?)"
    r"(?P<suffix>街道|经济开发区|开发区|高新区|镇|乡)")
_PLACEHOLDER = re.compile(r"^(某|xx|XX|××|ＸＸ)")
_YEAR = re.compile(r"(20\d{2})\s*年")
PERIODS = ("上半年", "下半年", "一季度", "二季度", "三季度", "四季度")


def _is_placeholder(name: str) -> bool:
    """Anonymised or misread names: 某街道, XX街道, "年度某" read off "2020年度某街道"."""
    return bool(_PLACEHOLDER.match(name)) or any(ch in name for ch in "某年度") or "xx" in name.lower()


def title_of(text: str, fallback: str) -> str:
    first_line = text.split("\n", 1)[0].strip()
    return first_line if 0 < len(first_line) <= 60 else fallback


def derive_metadata(doc_id: str, text: str, sha256: str) -> DocumentMeta:
    """Metadata read off the title and the text; `metadata.yaml` may correct it afterwards."""
    title = title_of(text, Path(doc_id).stem)
    org, aliases = "", []
    match = _ORG_IN_TITLE.search(title)
    if match and not _is_placeholder(match.group("name")):
        name, suffix = match.group("name"), match.group("suffix")
        org = name
        aliases = [name + suffix]
        if match.group("district"):
            district = match.group("district")
            aliases += [district, district[:-1], district + name + suffix]
    years = sorted({int(y) for y in _YEAR.findall(title)}) or _most_common_year(text)
    kind = "、".join(k for k in KINDS if k in title) or "文件"
    period = next((p for p in PERIODS if p in title), "")
    return DocumentMeta(doc_id=doc_id, title=title, org=org or "（未识别）", aliases=tuple(dict.fromkeys(aliases)),
                        years=tuple(years), kind=kind, sha256=sha256, period=period)


def _most_common_year(text: str) -> list[int]:
    counts = Counter(int(y) for y in _YEAR.findall(text[:2000]))
    return [counts.most_common(1)[0][0]] if counts else []


def load_overrides(corpus_dir: Path) -> dict[str, dict]:
    """Read corpus/metadata.yaml: {file name: {title?, org?, aliases?, years?, kind?, period?}}."""
    path = corpus_dir / METADATA_FILE
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise RetrievalError(f"{path} is not valid YAML: {error}. Fix the file or delete it.") from error
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise RetrievalError(f"{path} must map each file name to a mapping of fields (org, aliases, years, …)")
    return data


def apply_overrides(meta: DocumentMeta, override: dict) -> DocumentMeta:
    """Fields given in the override replace the derived ones; aliases are added to the derived ones."""
    known = {"title", "org", "aliases", "years", "kind", "period"}
    unknown = set(override) - known
    if unknown:
        raise RetrievalError(f"{METADATA_FILE}: unknown field(s) {sorted(unknown)} for {meta.doc_id}; "
                             f"allowed: {sorted(known)}")
    changes: dict = {}
    for field in ("title", "org", "kind", "period"):
        if override.get(field):
            changes[field] = str(override[field])
    if override.get("years"):
        years = override["years"] if isinstance(override["years"], list) else [override["years"]]
        try:
            changes["years"] = tuple(sorted(int(y) for y in years))
        except (TypeError, ValueError) as error:
            raise RetrievalError(f"{METADATA_FILE}: years of {meta.doc_id} must be whole years, got {years}") from error
    if override.get("aliases"):
        aliases = override["aliases"] if isinstance(override["aliases"], list) else [override["aliases"]]
        changes["aliases"] = tuple(dict.fromkeys([*meta.aliases, *(str(a) for a in aliases)]))
    return replace(meta, **changes)


OVERRIDES_HEADER = ("# 文档元数据的人工修订。每个文件一节：写了的字段覆盖自动识别的结果（title、org、years、kind、period），\n"
                    "# aliases 追加在自动识别的别名之后。别名是用户提问时可能用来称呼这个单位的词。\n")


def _write_overrides(corpus_dir: Path, data: dict) -> None:
    import yaml

    write_text_atomic(corpus_dir / METADATA_FILE,
                      OVERRIDES_HEADER + yaml.safe_dump(data, allow_unicode=True, sort_keys=True))


def save_override(corpus_dir: Path, doc_id: str, **fields) -> None:
    """Write or update one document's entry in metadata.yaml (rewritten whole, under the standard header)."""
    data = load_overrides(corpus_dir)
    entry = dict(data.get(doc_id, {}))
    for key, value in fields.items():
        if value is not None:
            entry[key] = list(value) if isinstance(value, (list, tuple)) else value
    data[doc_id] = entry
    _write_overrides(corpus_dir, data)


def remove_override(corpus_dir: Path, doc_id: str) -> None:
    data = load_overrides(corpus_dir)
    if doc_id in data:
        del data[doc_id]
        _write_overrides(corpus_dir, data)
