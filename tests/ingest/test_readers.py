"""Tests for reading corpus files: text encodings, .docx paragraphs and tables, PDFs, bad input."""
from __future__ import annotations

import io
import os
import zipfile

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from retrieval.errors import IngestError
from retrieval.ingest.cleaning import clean_text
from retrieval.ingest.readers import SUPPORTED_SUFFIXES, read_bytes, read_text, sniff_format

PLAN_TEXT = (
    "吴淞街道2021年工作要点\n"
    "一、坚持党建引领，全面提升基层治理水平。\n"
    "（一）拆除违法建筑3万平方米，完成“美丽家园”改造。\n"
)


# ---- fixtures built in the test ------------------------------------------------------------

def build_pdf(page_streams: list[bytes]) -> bytes:
    """A minimal valid PDF, one page per content stream, with computed xref offsets.

    Font F1 is the standard Type1 Helvetica (ASCII); font F2 is a Type0 font with Identity-H
    encoding whose ToUnicode CMap maps each 2-byte code to the same Unicode code point, so
    `<5434> Tj` shows 吴. No font file is embedded: text extraction only needs the CMap.
    """
    page_count = len(page_streams)
    first_page = 3
    helvetica = first_page + 2 * page_count
    cjk_font, cjk_descendant, cjk_cmap = helvetica + 1, helvetica + 2, helvetica + 3
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        b"1 beginbfrange <0000> <00FF> <0000> endbfrange\n"
        b"1 beginbfrange <4E00> <4EFF> <4E00> endbfrange\n"
    )
    # One range per high byte: a bfrange may only vary its last byte.
    cmap += b"".join(
        b"1 beginbfrange <%02X00> <%02XFF> <%02X00> endbfrange\n" % (high, high, high)
        for high in (0x2E, 0x2F, *range(0x4F, 0xA0))       # 2E/2F: radicals, as Chromium's PDFs map some glyphs
    )
    cmap += b"1 beginbfrange <FF00> <FFFF> <FF00> endbfrange\n"
    cmap += b"endcmap CMapName currentdict /CMapResource defineresource pop end end\n"

    def stream(content: bytes) -> bytes:
        return b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)

    kids = b" ".join(b"%d 0 R" % (first_page + 2 * i) for i in range(page_count))
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, page_count),
        helvetica: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        cjk_font: (b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H "
                   b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cjk_descendant, cjk_cmap)),
        cjk_descendant: (b"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /STSong-Light "
                         b"/CIDSystemInfo << /Registry (Adobe) /Ordering (GB1) /Supplement 2 >> "
                         b"/DW 1000 >>"),
        cjk_cmap: stream(cmap),
    }
    for i, content in enumerate(page_streams):
        page, contents = first_page + 2 * i, first_page + 2 * i + 1
        objects[page] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> >>" % (contents, helvetica, cjk_font)
        )
        objects[contents] = stream(content)

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, objects[number])
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offsets[number] for number in sorted(objects))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref_at)
    return bytes(out)


def ascii_text_stream(text: str) -> bytes:
    return b"BT /F1 12 Tf 72 720 Td (%s) Tj ET" % text.encode("ascii")


def chinese_text_stream(text: str) -> bytes:
    codes = "".join(f"{ord(character):04X}" for character in text)
    return b"BT /F2 12 Tf 72 700 Td <%s> Tj ET" % codes.encode("ascii")


def chinese_lines_stream(lines: list[str]) -> bytes:
    """One text line under the other, as a PDF wraps a paragraph."""
    shown = b" 0 -16 Td ".join(
        b"<%s> Tj" % "".join(f"{ord(character):04X}" for character in line).encode("ascii") for line in lines
    )
    return b"BT /F2 12 Tf 72 700 Td %s ET" % shown


def encrypted(pdf: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def build_docx(path) -> None:
    document = docx.Document()
    document.add_heading("某街道2021年工作计划", level=1)
    document.add_paragraph("一、总体要求")
    document.add_paragraph("全年拆除违法建筑任务如下表。")
    table = document.add_table(rows=2, cols=3)
    for row, values in zip(table.rows, [("项目", "目标", "时限"), ("拆除违法建筑", "3万平方米", "年底前")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_paragraph("二、主要任务")
    document.save(path)


def docx_bytes() -> bytes:
    buffer = io.BytesIO()
    document = docx.Document()
    document.add_paragraph("正文")
    document.save(buffer)
    return buffer.getvalue()


def plain_zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a Word file")
    return buffer.getvalue()


# ---- plain text encodings ------------------------------------------------------------------

def test_gbk_text_reads_back_exactly(tmp_path):
    path = tmp_path / "吴淞街道2021年工作要点.txt"
    path.write_bytes(PLAN_TEXT.encode("gbk"))
    assert read_text(path) == PLAN_TEXT


def test_gb18030_text_keeps_a_character_outside_gbk(tmp_path):
    # 𠮷 (U+20BB7) exists only in GB18030's four-byte area; GBK cannot encode it.
    text = "𠮷野家店铺整治完成，€符号保留。\n" + PLAN_TEXT
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    path = tmp_path / "plan.txt"
    path.write_bytes(text.encode("gb18030"))
    assert read_text(path) == text


def test_utf8_bom_is_stripped(tmp_path):
    path = tmp_path / "plan.md"
    path.write_bytes(b"\xef\xbb\xbf" + PLAN_TEXT.encode("utf-8"))
    text = read_text(path)
    assert text == PLAN_TEXT
    assert not text.startswith("\ufeff")


def test_utf16_with_bom_is_decoded(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_bytes(PLAN_TEXT.encode("utf-16"))     # Python writes the BOM first
    assert read_text(path) == PLAN_TEXT


def test_crlf_and_lone_cr_become_newlines(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_bytes("第一行\r\n第二行\r第三行\n".encode("utf-8"))
    assert read_text(path) == "第一行\n第二行\n第三行\n"


def test_text_in_no_known_encoding_raises_with_both_languages(tmp_path):
    path = tmp_path / "plan.txt"
    path.write_bytes("计划".encode("utf-8") + b"\xff\xfe\x80 tail")
    with pytest.raises(IngestError) as caught:
        read_text(path)
    assert "无法识别文本编码" in str(caught.value)
    assert "GB18030" in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("junk", [
    b"PK\x03\x04\x00\x00\x00\x00header\x00\x00",            # NUL bytes
    bytes(range(1, 9)) * 50 + "少量文字".encode("utf-8"),      # mostly control characters
])
def test_binary_junk_in_txt_raises(tmp_path, junk):
    path = tmp_path / "junk.txt"
    path.write_bytes(junk)
    with pytest.raises(IngestError, match="binary file"):
        read_text(path)


@pytest.mark.parametrize("content", [b"", b" \r\n\t\n", b"\xef\xbb\xbf"])
def test_empty_or_blank_txt_raises(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_bytes(content)
    with pytest.raises(IngestError, match="文件为空 / file is empty"):
        read_text(path)


# ---- .docx ---------------------------------------------------------------------------------

def test_docx_paragraphs_and_table_rows_in_document_order(tmp_path):
    path = tmp_path / "plan.docx"
    build_docx(path)
    assert read_text(path).split("\n") == [
        "某街道2021年工作计划",
        "一、总体要求",
        "全年拆除违法建筑任务如下表。",
        "项目 | 目标 | 时限",
        "拆除违法建筑 | 3万平方米 | 年底前",
        "二、主要任务",
    ]


def test_docx_merged_cell_appears_once_per_row(tmp_path):
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "重点项目"
    table.cell(0, 2).text = "责任部门"
    for cell, value in zip(table.rows[1].cells, ("道路整治", "绿化提升", "城管中队")):
        cell.text = value
    path = tmp_path / "merged.docx"
    document.save(path)
    assert read_text(path).split("\n") == ["重点项目 | 责任部门", "道路整治 | 绿化提升 | 城管中队"]


def test_docx_without_text_is_empty(tmp_path):
    path = tmp_path / "blank.docx"
    docx.Document().save(path)
    with pytest.raises(IngestError, match="file is empty"):
        read_text(path)


def test_corrupt_docx_raises_naming_the_file(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(os.urandom(2048))
    with pytest.raises(IngestError) as caught:
        read_text(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert "not a valid .docx" in caught.value.reason


def test_zip_without_word_document_is_not_a_docx():
    with pytest.raises(IngestError, match="not a valid .docx"):
        read_bytes("plan.docx", plain_zip_bytes())


# ---- .pdf ----------------------------------------------------------------------------------

def test_pdf_pages_are_joined_with_newlines(tmp_path):
    path = tmp_path / "plan.pdf"
    path.write_bytes(build_pdf([
        ascii_text_stream("Work plan 2021"),
        chinese_text_stream("拆除违法建筑3万平方米"),
    ]))
    assert read_text(path).split("\n") == ["Work plan 2021", "拆除违法建筑3万平方米"]


def test_pdf_wrapped_number_and_radical_code_points_read_back_as_text():
    """A Chromium-printed PDF: a number cut by the line end, radicals (⼯ ⼾ ⼈) standing for characters."""
    pdf = build_pdf([chinese_lines_stream([
        "某社区2023年⼯作总结",
        "全年共组织开展各类职业技能培训3",
        "0场，参训群众1200⼈次，⼯作成效明显，",
        "新增⼾籍⼈⼝120⼾。",
    ])])
    raw = read_bytes("summary.pdf", pdf)
    assert "⼯" in raw and "3\n0场" in raw                # what the PDF itself says
    assert clean_text(raw).text.split("\n") == [
        "某社区2023年工作总结",
        "全年共组织开展各类职业技能培训30场，参训群众1200人次，工作成效明显，新增户籍人口120户。",
    ]


def test_pdf_encrypted_with_empty_user_password_opens():
    pdf = encrypted(build_pdf([ascii_text_stream("Open to all")]), user_password="")
    assert PdfReader(io.BytesIO(pdf)).is_encrypted
    assert read_bytes("open.pdf", pdf) == "Open to all"


def test_pdf_with_a_password_raises():
    pdf = encrypted(build_pdf([ascii_text_stream("Secret plan")]), user_password="secret")
    with pytest.raises(IngestError, match="password"):
        read_bytes("secret.pdf", pdf)


def test_pdf_without_text_even_by_ocr_says_so():
    with pytest.raises(IngestError) as caught:
        read_bytes("blank.pdf", build_pdf([b"0 0 1 rg 0 0 100 100 re f"]))     # a blue square, no text at all
    assert "no text layer" in caught.value.reason
    assert "OCR found no text" in caught.value.reason


def test_corrupt_pdf_raises_naming_the_file(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.7\n" + os.urandom(1024))
    with pytest.raises(IngestError) as caught:
        read_text(path)
    assert caught.value.path == str(path)
    assert str(path) in str(caught.value)
    assert "not a valid PDF" in caught.value.reason


def test_pdf_name_on_a_docx_says_what_the_content_is():
    with pytest.raises(IngestError) as caught:
        read_bytes("plan.pdf", docx_bytes())
    assert "looks like a Word .docx file" in caught.value.reason


# ---- .html --------------------------------------------------------------------------------

PAGE_PARAGRAPHS = (
    "2024年是全面贯彻落实党的二十大精神的关键之年，全镇上下将坚持稳中求进工作总基调，推动经济社会高质量发展。",
    "一、推动经济高质量发展",
    "全年计划完成固定资产投资15亿元，新引进亿元以上项目8个，规模以上工业产值增长6%以上。",
    "二、持续改善民生福祉",
    "新建村级养老服务站3个，完成农村公路提档升级12公里，实施老旧小区改造2个，新增城镇就业600人。",
)


def government_page(charset: str = "utf-8") -> str:
    """A page as a government site serves it: navigation, breadcrumb, an info bar, the article, a footer."""
    paragraphs = "".join(f"<p>{p}</p>" for p in PAGE_PARAGRAPHS)
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="{charset}"><title>某镇2024年工作计划_某镇人民政府</title>
<meta name="PubDate" content="2024-03-05 10:20"></head>
<body>
<div class="top"><a href="/">首页</a> | <a href="/lang">选择语言</a> | <a href="/wza">无障碍</a></div>
<div class="nav"><ul><li><a href="/">网站首页</a></li><li><a href="/xxgk">信息公开</a></li>
<li><a href="/bsfw">办事服务</a></li><li><a href="/hdjl">互动交流</a></li></ul></div>
<div class="crumb">当前位置：<a href="/">首页</a> &gt; <a href="/xxgk">信息公开</a> &gt; 规划计划</div>
<div class="article"><h1>某镇2024年工作计划</h1>
<div class="info">发布时间：2024-03-05 10:20 来源：某镇人民政府 浏览次数：123 字体：[大 中 小] 打印</div>
<div class="content">{paragraphs}</div></div>
<div class="footer"><p>版权所有：某镇人民政府 主办单位：某镇党政办公室</p>
<p>网站标识码：1234567890 某ICP备12345678号</p><p>联系电话：0123-4567890</p></div>
</body></html>"""


@pytest.mark.parametrize(("name", "charset"), [("plan.html", "utf-8"), ("plan.htm", "gbk")])
def test_html_page_keeps_only_its_main_text(name, charset):
    data = government_page(charset).encode(charset)
    cleaned = clean_text(read_bytes(name, data))
    # The page date is kept as its information line (people ask when a plan was published).
    assert cleaned.text.split("\n") == ["某镇2024年工作计划", "发布日期:2024-03-05", *PAGE_PARAGRAPHS]
    assert cleaned.fields["published"] == "2024-03-05"


def test_html_table_rows_are_kept():
    page = government_page().replace(
        "</div></div>", "<table><tr><td>项目</td><td>目标</td></tr><tr><td>污水管网</td><td>20公里</td></tr>"
                        "</table></div></div>", 1)
    text = clean_text(read_bytes("plan.html", page.encode())).text
    assert "污水管网" in text and "20公里" in text


def test_html_page_without_main_text_raises():
    page = b"<!doctype html><html><head></head><body><script>var page = 1;</script><img src='scan.png'></body></html>"
    with pytest.raises(IngestError, match="no main text"):
        read_bytes("empty.html", page)


@pytest.mark.parametrize("start", [b"<!DOCTYPE html>", b"\xef\xbb\xbf  \n<html lang='zh'>", b"<!-- saved -->\n<!doctype HTML>",
                                   b"<HTML>"])
def test_sniff_format_knows_html(start):
    assert sniff_format(start + b"<body><p>\xe6\xad\xa3\xe6\x96\x87</p></body></html>") == "html"


def test_text_that_mentions_html_is_still_text():
    assert sniff_format("关于<html>标签的说明\n正文".encode("utf-8")) == "text"


# ---- names and paths -----------------------------------------------------------------------

def test_unsupported_suffix_lists_supported_types(tmp_path):
    path = tmp_path / "setup.exe"
    path.write_bytes(b"MZ\x90\x00")
    with pytest.raises(IngestError) as caught:
        read_text(path)
    assert "'.exe'" in caught.value.reason
    for suffix in SUPPORTED_SUFFIXES:
        assert suffix in caught.value.reason


def test_missing_file_raises(tmp_path):
    path = tmp_path / "absent.txt"
    with pytest.raises(IngestError, match="file not found") as caught:
        read_text(path)
    assert caught.value.path == str(path)


def test_suffix_is_case_insensitive_and_read_bytes_matches_read_text(tmp_path):
    path = tmp_path / "PLAN.TXT"
    path.write_bytes(PLAN_TEXT.encode("gbk"))
    assert read_bytes("PLAN.TXT", path.read_bytes()) == read_text(path) == PLAN_TEXT


# ---- sniff_format --------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "expected"), [
    (docx_bytes(), "docx"),
    (build_pdf([ascii_text_stream("x")]), "pdf"),
    (PLAN_TEXT.encode("utf-8"), "text"),
    (PLAN_TEXT.encode("gbk"), "text"),
    (PLAN_TEXT.encode("utf-16"), "text"),
    (plain_zip_bytes(), None),                 # a zip, but not a Word document
    (b"MZ\x90\x00\x03\x00\x00\x00", None),      # NUL bytes: an executable
    (b"\xff\xfe\x80\x81\xff", None),            # no encoding fits
])
def test_sniff_format_judges_the_content(data, expected):
    assert sniff_format(data) == expected


def test_sniff_format_ignores_the_name_a_zip_was_given(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(plain_zip_bytes())
    assert sniff_format(path.read_bytes()) != "pdf"
    path.write_bytes(docx_bytes())
    assert sniff_format(path.read_bytes()) == "docx"


# ---- .docx: text python-docx's Paragraph.text leaves out --------------------------------------------

_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_MC = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'


def _docx_with_paragraph_xml(*inner_xml: str) -> bytes:
    from docx.oxml import parse_xml

    document = docx.Document()
    for inner in inner_xml:
        document.element.body.insert(len(document.element.body) - 1, parse_xml(f"<w:p {_W} {_MC}>{inner}</w:p>"))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def _run(text: str) -> str:
    return f"<w:r><w:t>{text}</w:t></w:r>"


def test_docx_tracked_changes_read_as_accepted():
    """A draft circulated with revisions (修订): inserted text is the document's text, deleted text is not."""
    data = _docx_with_paragraph_xml(
        _run("全年拆违") + '<w:del w:id="1" w:author="a"><w:r><w:delText>2万</w:delText></w:r></w:del>'
        + '<w:ins w:id="2" w:author="a">' + _run("3万") + "</w:ins>" + _run("平方米。"),
        '<w:moveTo w:id="3" w:author="a">' + _run("新建口袋公园5座。") + "</w:moveTo>")
    assert read_bytes("draft.docx", data).splitlines() == ["全年拆违3万平方米。", "新建口袋公园5座。"]


def test_docx_fields_smart_tags_and_inline_content_controls_keep_their_text():
    data = _docx_with_paragraph_xml(
        _run("详见") + '<w:fldSimple w:instr="REF x">' + _run("附件1") + "</w:fldSimple>"
        + "<w:smartTag>" + _run("吴淞街道") + "</w:smartTag>"
        + "<w:sdt><w:sdtContent>" + _run("2024年") + "</w:sdtContent></w:sdt>" + _run("工作计划"))
    assert read_bytes("fields.docx", data) == "详见附件1吴淞街道2024年工作计划"


def test_docx_text_box_is_read_once_after_its_paragraph():
    """A text box (a red-header title, a side note) is stored twice, new format and old-format fallback."""
    box = "<w:txbxContent><w:p>{}</w:p></w:txbxContent>".format(_run("某某街道办事处文件"))
    drawing = ("<w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing><wrap>" + box
               + "</wrap></w:drawing></mc:Choice><mc:Fallback><w:pict><textbox>" + box
               + "</textbox></w:pict></mc:Fallback></mc:AlternateContent></w:r>")
    data = _docx_with_paragraph_xml(_run("正文第一段。") + drawing, _run("正文第二段。"))
    assert read_bytes("boxed.docx", data).splitlines() == ["正文第一段。", "某某街道办事处文件", "正文第二段。"]
