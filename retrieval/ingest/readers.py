"""Read the raw text of corpus files and uploads (.txt, .md, .docx, .pdf, .html), with no cleaning."""
from __future__ import annotations

import codecs
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePath

import docx
from docx.oxml.ns import qn
from docx.table import Table
from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError

from retrieval.errors import IngestError, ScannedPdf
from retrieval.ingest.html import html_text, looks_like_html
from retrieval.ingest.word_numbering import ListNumbering

SUPPORTED_SUFFIXES = (".txt", ".md", ".docx", ".pdf", ".html", ".htm")
# Raised when a file type is read differently, so that an index of files read the old way is read again.
# 2: a .docx paragraph starts with the number Word's automatic list numbering draws (一、 · （一） · 1.).
# 3: a .docx paragraph keeps tracked insertions, fields and inline content controls; text boxes are read.
# 4: a PDF page without a text layer (a scan) is read by OCR.
READER_VERSION = 4
MAX_PAGE_NUMBER_CHARS = 16  # the longest page number a scan may carry as text ("第 12 页 共 30 页")
MAX_OCR_PAGES = 300        # about 20 minutes of OCR on 2 cores

_TEXT_SUFFIXES = (".txt", ".md")
_HTML_SUFFIXES = (".html", ".htm")
_SUFFIX_HINTS = {".doc": "open it in Word and save it as .docx"}
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"      # old binary Office files: .doc, .xls, .wps
_FORMAT_NAMES = {"docx": "a Word .docx file", "pdf": "a PDF", "html": "an HTML page", "text": "plain text"}

# Control characters other than \t \n \v \f \r: real text has (almost) none of them, while a
# binary file that happens to decode (GB18030 accepts most byte pairs) is full of them.
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_MAX_CONTROL_FRACTION = 0.1

_EMPTY = "文件为空 / file is empty"
_UNDECODABLE = "无法识别文本编码 / cannot decode as UTF-8 or GB18030"
# Reasons told to app users (IngestError.reason_zh), where several readers share one.
NOT_FOUND_ZH = "文件已不在语料库里（被删除或移走了）"
CANNOT_OPEN_ZH = "文件打不开（没有读取权限，或正被其他程序占用）"
UNSUPPORTED_ZH = "不支持这种文件类型；支持 .txt .md .docx .pdf .html"
BLANK_SCAN_ZH = "这是扫描件，但文字识别在每一页上都没有找到文字（空白页？）。请上传有文字的版本"


def read_text(path: str | Path) -> str:
    """Return the raw text of a corpus file (no cleaning beyond what the format needs).

    Raises:
        IngestError: unsupported suffix, missing or unreadable file, corrupt or encrypted
            document, undecodable or binary text, or no text at all.
    """
    path = Path(path)
    suffix = _supported_suffix(path, path.name)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(path, "file not found; check the path", NOT_FOUND_ZH) from None
    except IsADirectoryError:
        raise IngestError(path, "is a directory, not a file", "这是一个文件夹，不是文件") from None
    except OSError as error:
        raise IngestError(path, f"cannot open the file: {error.strerror or error}", CANNOT_OPEN_ZH) from error
    return _read(path, suffix, data)


def read_bytes(name: str, data: bytes, *, ocr: bool = True) -> str:
    """Same as `read_text`, for an upload held in memory; `name` gives the suffix. Raises IngestError.

    ocr=False is the quick check of an upload: scanned PDF pages are not read (OCR takes seconds a page), and
    a PDF of scanned pages only raises ScannedPdf instead of returning its text.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    return _read(name, _supported_suffix(name, name), bytes(data), ocr=ocr)


def sniff_format(data: bytes) -> str | None:
    """'docx' / 'pdf' / 'html' / 'text' judged from the content, None when it is none of them.

    docx is a zip holding word/document.xml; pdf starts with %PDF-; html starts with <!doctype html
    or <html (after an optional BOM, whitespace or comments); text decodes by the rules
    of `read_text` (UTF-8, UTF-16 with BOM, GB18030) to characters with no NUL and few
    control characters. Empty data counts as text (reading it then says the file is empty).
    """
    if data.startswith(b"%PDF-"):
        return "pdf"
    if _is_docx_zip(data):
        return "docx"
    if looks_like_html(data):
        return "html"
    text = _decode_text(data)
    if text is not None and _binary_reason(text) is None:
        return "text"
    return None


def _supported_suffix(path: str | Path, name: str) -> str:
    suffix = PurePath(name).suffix.lower()
    if suffix in SUPPORTED_SUFFIXES:
        return suffix
    supported = ", ".join(SUPPORTED_SUFFIXES)
    if not suffix:
        raise IngestError(path, f"file name has no suffix; supported types: {supported}", UNSUPPORTED_ZH)
    hint = f"; {_SUFFIX_HINTS[suffix]}" if suffix in _SUFFIX_HINTS else ""
    raise IngestError(path, f"unsupported file type '{suffix}'; supported types: {supported}{hint}", UNSUPPORTED_ZH)


def _read(path: str | Path, suffix: str, data: bytes, ocr: bool = True) -> str:
    if suffix in _TEXT_SUFFIXES:
        text = _text_from_plain(path, data)
    elif suffix == ".docx":
        text = _text_from_docx(path, data)
    elif suffix in _HTML_SUFFIXES:
        text = _text_from_html(path, data)
    else:
        text = _text_from_pdf(path, data, ocr)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        raise IngestError(path, _EMPTY, "文件里没有文字")
    return text


# ---- plain text ----------------------------------------------------------------------------

def _decode_text(data: bytes) -> str | None:
    """Decode strictly as UTF-8 (BOM optional), UTF-16 with BOM, then GB18030; None if none fits."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    if data.startswith(_UTF16_BOMS):
        try:
            return data.decode("utf-16")        # reads the BOM for the byte order and drops it
        except UnicodeDecodeError:
            return None
    try:
        return data.decode("gb18030")           # a superset of GBK and GB2312
    except UnicodeDecodeError:
        return None


def _binary_reason(text: str) -> str | None:
    """Why decoded text looks like a binary file, or None when it looks like text."""
    if "\x00" in text:
        return "contains NUL bytes: this is a binary file, not text"
    controls = len(_CONTROL_CHARACTER.findall(text))
    if controls > _MAX_CONTROL_FRACTION * len(text):
        return (f"{controls} of {len(text)} characters are control characters: "
                "this looks like a binary file, not text")
    return None


def _text_from_plain(path: str | Path, data: bytes) -> str:
    text = _decode_text(data)
    if text is None:
        raise IngestError(path, _UNDECODABLE + _utf8_error_position(data) + _content_hint(data, "text"),
                          "无法识别文字编码（不是 UTF-8 或 GB18030 文本）")
    reason = _binary_reason(text)
    if reason is not None:
        raise IngestError(path, reason + _content_hint(data, "text"), "这是二进制文件，不是文本")
    return text


def _utf8_error_position(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        return f" (first invalid UTF-8 byte at offset {error.start})"
    return ""


# ---- .html --------------------------------------------------------------------------------

def _text_from_html(path: str | Path, data: bytes) -> str:
    """The page's main text (see `html.html_text`); raises IngestError for a page without any."""
    if not data.strip():
        raise IngestError(path, _EMPTY, "文件里没有文字")
    try:
        # trafilatura and lxml raise many types on markup they cannot parse; each means the same here.
        text = html_text(data)
    except Exception as error:
        raise IngestError(path, f"cannot read the HTML page: {error}" + _content_hint(data, "html"), "网页无法解析") from error
    if not text.strip():
        raise IngestError(path, "HTML page has no main text (only navigation or scripts?)" + _content_hint(data, "html"),
                          "网页里没有正文（只有导航或脚本）")
    return text


# ---- .docx ---------------------------------------------------------------------------------

def _is_docx_zip(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False


def _text_from_docx(path: str | Path, data: bytes) -> str:
    try:
        document = docx.Document(io.BytesIO(data))
        # python-docx and lxml raise many types (BadZipFile, KeyError, ValueError,
        # XMLSyntaxError, ...) on a damaged or foreign file; each means the same thing here.
        numbering = ListNumbering.from_document(document)
        return "\n".join(_block_lines(document.element.body, document, numbering))
    except Exception as error:
        raise IngestError(
            path, f"not a valid .docx (corrupt or not a Word file): {error}" + _content_hint(data, "docx"),
            "不是有效的 Word（.docx）文件，可能已损坏"
        ) from error


_MARKUP_COMPATIBILITY = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
# Inside a paragraph, text that is not the document's current text: deleted or moved-away revisions, and the
# old-format copy Word keeps beside a text box (mc:Fallback; the box itself is read once, from mc:Choice).
_NOT_CURRENT_TEXT = {qn("w:del"), qn("w:moveFrom"), qn("w:pPr"), qn("w:rPr"), _MARKUP_COMPATIBILITY + "Fallback"}


def _paragraph_text(paragraph, boxes: list) -> str:
    """The text a reader sees in a w:p: its runs, also those inside tracked insertions (w:ins, w:moveTo),
    fields, smart tags and inline content controls, which python-docx's Paragraph.text leaves out; deleted
    revisions stay out. Text boxes anchored in the paragraph are added to `boxes` (their own paragraphs)."""
    parts: list[str] = []

    def walk(element) -> None:
        for child in element.iterchildren():
            if child.tag in _NOT_CURRENT_TEXT:
                continue
            if child.tag == qn("w:r"):
                parts.append(child.text)
            if child.tag == qn("w:txbxContent"):
                boxes.append(child)
            else:
                walk(child)
    walk(paragraph)
    return "".join(parts)


def _block_lines(container, parent, numbering: ListNumbering) -> Iterator[str]:
    """Lines of a body, table cell or text box in document order: one per paragraph (with the number Word's
    automatic list numbering draws before it: 一、 · （一） · 1.), then the lines of its text boxes; one per
    table row."""
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            boxes: list = []
            label, text = numbering.label(child), _paragraph_text(child, boxes)
            yield label + text if text.strip() else text
            for box in boxes:
                yield from _block_lines(box, parent, numbering)
        elif child.tag == qn("w:tbl"):
            yield from _table_lines(child, parent, numbering)
        elif child.tag == qn("w:sdt"):          # content control: its text sits in w:sdtContent
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _block_lines(content, parent, numbering)


def _table_lines(table_element, parent, numbering: ListNumbering) -> Iterator[str]:
    table = Table(table_element, parent)
    for row in table.rows:
        cells = []
        previous_tc = None
        for cell in row.cells:
            # python-docx repeats a merged cell once per grid column it spans; keep one copy.
            if cell._tc is previous_tc:
                continue
            previous_tc = cell._tc
            lines = (line.strip() for line in _block_lines(cell._tc, cell, numbering))
            cells.append(" ".join(line for line in lines if line))
        if any(cells):
            yield " | ".join(cells)


# ---- .pdf ----------------------------------------------------------------------------------

def _text_from_pdf(path: str | Path, data: bytes, ocr: bool = True) -> str:
    # pypdf raises many types (PdfReadError, ValueError, KeyError, ...) on a damaged file.
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as error:
        raise IngestError(
            path, f"not a valid PDF (corrupt or truncated): {error}" + _content_hint(data, "pdf"), "PDF 已损坏或不完整"
        ) from error

    if encrypted:
        try:
            opened = reader.decrypt("")
        except DependencyError as error:
            raise IngestError(
                path, "PDF is AES-encrypted; reading it needs the cryptography package: "
                      "pip install cryptography", "PDF 已加密，无法读取；请另存一份不加密的版本"
            ) from error
        except Exception as error:
            raise IngestError(path, f"PDF is encrypted and cannot be decrypted: {error}",
                              "PDF 已加密，无法读取；请另存一份不加密的版本") from error
        if opened == PasswordType.NOT_DECRYPTED:
            raise IngestError(path, "PDF is protected by a password; remove the password and try again",
                              "PDF 设有密码；请去掉密码后再上传")

    try:
        page_count = len(reader.pages)
    except Exception as error:
        raise IngestError(path, f"not a valid PDF (cannot read its page list): {error}", "PDF 已损坏（读不到页面）") from error
    if page_count == 0:
        raise IngestError(path, "PDF has no pages", "PDF 没有页面")

    page_texts = []
    for number in range(page_count):
        try:
            page_texts.append(reader.pages[number].extract_text() or "")
        except Exception as error:
            raise IngestError(
                path, f"cannot extract text from page {number + 1} of {page_count}: {error}",
                f"PDF 第 {number + 1} 页（共 {page_count} 页）的文字读不出来，文件可能已损坏"
            ) from error
    scanned = [number for number, text in enumerate(page_texts) if _needs_ocr(text)]
    if scanned and not ocr:
        if not any(text.strip() for text in page_texts):
            raise ScannedPdf(path, "PDF has no text layer (scanned pages): its text is read by OCR when indexed")
    elif scanned:
        _read_scanned_pages(path, data, page_texts, scanned)
    text = "\n".join(page_texts)
    if not text.strip():
        raise IngestError(path, "PDF has no text layer, and OCR found no text on its pages (blank pages?)",
                          BLANK_SCAN_ZH)
    return text


_PAGE_NUMBER_ONLY = re.compile(r"[\d\s\-—–－_·/|.()（）第页共Pp]*")


def _needs_ocr(page_text: str) -> bool:
    """A page with no text layer, or one whose only text is a page number stamped on a scan ("- 3 -", 第3页)."""
    return len(page_text.strip()) <= MAX_PAGE_NUMBER_CHARS and bool(_PAGE_NUMBER_ONLY.fullmatch(page_text))


def _read_scanned_pages(path: str | Path, data: bytes, page_texts: list[str], scanned: list[int]) -> None:
    """Put OCR's text of the scanned pages into page_texts (a scan's stamped page number stays before it)."""
    from retrieval.ingest.ocr import OcrUnavailable, ocr_pages

    if len(scanned) > MAX_OCR_PAGES:
        raise IngestError(path, f"PDF has {len(scanned)} scanned pages without text; OCR reads at most "
                                f"{MAX_OCR_PAGES}: split the file, or save it with its text layer",
                          f"扫描件有 {len(scanned)} 页，文字识别最多读 {MAX_OCR_PAGES} 页；请拆成几份，或上传有文字的版本")
    try:
        read = ocr_pages(data, scanned)
    except OcrUnavailable as error:
        if any(text.strip() for text in page_texts):
            return                           # the pages with a text layer are still worth indexing
        raise IngestError(path, f"PDF has no text layer (scanned?) and OCR is not installed ({error}): "
                                "pip install -r requirements.txt",
                          "这是扫描件，本机没有安装文字识别组件；请上传有文字的版本，或请管理员运行 make setup") from error
    except Exception as error:               # PDFium and ONNX Runtime raise their own types on a bad page
        raise IngestError(path, f"cannot read the scanned pages by OCR: {error}", "扫描页的文字识别失败，文件可能已损坏") from error
    for number, text in read.items():
        page_texts[number] = "\n".join(part for part in (page_texts[number].strip(), text) if part)


def _content_hint(data: bytes, expected: str) -> str:
    """A note for an error message when the bytes are some other kind than the name says."""
    if data.startswith(_OLE_MAGIC):
        return "; it looks like an old Word 97-2003 .doc file: open it in Word and save it as .docx"
    found = sniff_format(data)
    if found is not None and found != expected:
        return f"; the content looks like {_FORMAT_NAMES[found]}, so the file name may be wrong"
    return ""
