"""Main text of an HTML page (.html/.htm uploads) by trafilatura's content extraction, with its title and date."""
from __future__ import annotations

import re

# An HTML document opens with a doctype or an <html> tag, possibly after a BOM, whitespace or comments.
_HTML_START = re.compile(rb"^(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html[\s>])",
                         re.IGNORECASE | re.DOTALL)
SNIFF_BYTES = 4096


def looks_like_html(data: bytes) -> bool:
    """True when the bytes begin as an HTML document does (after an optional BOM and whitespace)."""
    return bool(_HTML_START.match(data[:SNIFF_BYTES]))


def html_text(data: bytes) -> str:
    """The page's main text, navigation, headers and footers left out by trafilatura.

    The title and the publication date trafilatura reads from the page come first, as a page shows
    them ("标题", "发布日期:YYYY-MM-DD"), so that cleaning reads them like any page header: the date
    goes to `CleanedText.fields["published"]`, a title repeated by the body is kept once.
    Returns "" when the page has no main text.
    """
    import trafilatura  # loaded only when an HTML page is read

    document = trafilatura.bare_extraction(
        data, include_tables=True, include_comments=False, include_links=False, include_images=False,
        with_metadata=True,
        # The date from the page's metadata and markup only, never guessed from dates in the text.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    if document is None or not (document.text or "").strip():
        return ""
    header = []
    if document.title:
        header.append(document.title.strip())
    if document.date:
        header.append(f"发布日期:{document.date}")
    return "\n".join([*header, document.text])
