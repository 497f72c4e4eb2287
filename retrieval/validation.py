"""The one check of a question and its search parameters at the library boundary (engine, app and API share it)."""
from __future__ import annotations

import unicodedata

from retrieval.errors import InvalidQuery

MAX_QUESTION_CHARS = 500
MAX_K = 100
MIN_YEAR, MAX_YEAR = 1949, 2100
MAX_ORG_CHARS = 255                      # a document id is a file name
EXAMPLE_QUESTION = "吴淞今年拆违任务多少平方米"
# Tabs and line breaks are ordinary whitespace in a pasted question; other control characters are not text.
_ALLOWED_CONTROLS = frozenset("\t\n\r")


def validate_request(question: object, k: object = 5, year: object = None, org: object = None) -> str:
    """The question, stripped, when it and k, year and org are usable; otherwise InvalidQuery saying why.

    question: a str of 1..MAX_QUESTION_CHARS characters after stripping, without unpaired surrogates or
    control characters. k: an int in 1..MAX_K. year: None or an int in MIN_YEAR..MAX_YEAR. org: None or a
    document id (a non-empty str); whether that document exists is the engine's check.
    """
    if not isinstance(question, str):
        raise InvalidQuery(f"question must be text (str), got {type(question).__name__}: {question!r:.80}")
    problem = _text_problem(question)
    if problem:
        raise InvalidQuery(f"question {problem}: retype it as plain text")
    question = question.strip()
    if not question:
        raise InvalidQuery(f"question is empty: type a question such as {EXAMPLE_QUESTION}")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidQuery(f"question has {len(question)} characters, at most {MAX_QUESTION_CHARS} are allowed: "
                           "ask about one fact at a time")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidQuery(f"k must be an integer between 1 and {MAX_K}, got {k!r:.80}")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int) or not MIN_YEAR <= year <= MAX_YEAR):
        raise InvalidQuery(f"year must be None or an integer between {MIN_YEAR} and {MAX_YEAR}, got {year!r:.80}")
    if org is not None:
        if not isinstance(org, str):
            raise InvalidQuery(f"org must be a document id (str) or None, got {type(org).__name__}: {org!r:.80}")
        if not org.strip() or len(org) > MAX_ORG_CHARS or _text_problem(org):
            raise InvalidQuery(f"org must be the file name of an indexed document, got {org!r:.80}")
    return question


def _text_problem(text: str) -> str:
    """Why text cannot be searched (unpaired surrogate, control character), or "" when it can."""
    for position, character in enumerate(text):
        if "\ud800" <= character <= "\udfff":
            return f"contains a lone surrogate code point (U+{ord(character):04X}) at position {position}"
        if unicodedata.category(character) == "Cc" and character not in _ALLOWED_CONTROLS:
            return f"contains the control character U+{ord(character):04X} at position {position}"
    return ""
