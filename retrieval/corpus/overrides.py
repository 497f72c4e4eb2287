"""corpus/metadata.yaml: hand corrections of the derived metadata, one entry a file, read, applied and written."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from retrieval.corpus.atomic import write_text_atomic
from retrieval.errors import RetrievalError
from retrieval.ingest.dates import date_in
from retrieval.types import DocumentMeta

METADATA_FILE = "metadata.yaml"
OVERRIDE_FIELDS = ("title", "org", "aliases", "years", "kind", "period", "published", "issuer", "doc_number", "level",
                   "parents", "code", "speaker")


def load_overrides(corpus_dir: Path) -> dict[str, dict]:
    """Read corpus/metadata.yaml: {file name: {title?, org?, aliases?, years?, kind?, period?, published?, …}}."""
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
    unknown = set(override) - set(OVERRIDE_FIELDS)
    if unknown:
        raise RetrievalError(f"{METADATA_FILE}: unknown field(s) {sorted(unknown)} for {meta.doc_id}; "
                             f"allowed: {list(OVERRIDE_FIELDS)}")
    changes: dict = {}
    for field in ("title", "org", "kind", "period", "issuer", "doc_number", "level", "code", "speaker"):
        if override.get(field):
            changes[field] = str(override[field])
    if override.get("parents"):
        parents = override["parents"] if isinstance(override["parents"], list) else [override["parents"]]
        changes["parents"] = tuple(str(parent) for parent in parents)
    if override.get("published"):
        # YAML reads an unquoted 2021-02-05 as a date; either form is accepted.
        published = date_in(str(override["published"]))
        if not published:
            raise RetrievalError(f"{METADATA_FILE}: published of {meta.doc_id} must be a date such as 2021-02-05, "
                                 f"got {override['published']!r}")
        changes["published"] = published
    if override.get("years"):
        years = override["years"] if isinstance(override["years"], list) else [override["years"]]
        try:
            changes["years"] = tuple(sorted(int(y) for y in years))
        except (TypeError, ValueError) as error:
            raise RetrievalError(f"{METADATA_FILE}: years of {meta.doc_id} must be whole years, got {years}") from error
    if override.get("aliases"):
        aliases = override["aliases"] if isinstance(override["aliases"], list) else [override["aliases"]]
        given = [str(a) for a in aliases]
        # The derived aliases first, then the override's in its own order (also when it repeats a derived one).
        changes["aliases"] = tuple(dict.fromkeys([*(a for a in meta.aliases if a not in given), *given]))
    return replace(meta, **changes)


OVERRIDES_HEADER = ("# 文档元数据的人工修订。每个文件一节：写了的字段覆盖自动识别的结果（title、org、years、kind、period、\n"
                    "# published、issuer、doc_number），aliases 追加在自动识别的别名之后。别名是用户提问时可能用来称呼这个单位的词。\n")


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
