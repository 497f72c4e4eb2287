"""Scanned PDFs (pages that are images, no text layer) are read by OCR: the stamped scan of a plan answers
questions like its typed original. The scans here are drawn with Noto Sans CJK (Debian's fonts-noto-cjk, which
`make test` installs) and saved as image-only PDFs by Pillow."""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from retrieval.ingest.chunking import chunk_document
from retrieval.corpus.files import load_document
from retrieval.errors import ScannedPdf
from retrieval.ingest.ocr import lines_from_boxes
from retrieval.ingest.readers import read_bytes
from retrieval.corpus.uploads import UploadRejected, check_upload
from tests.ingest.test_readers import ascii_text_stream, build_pdf

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
needs_font = pytest.mark.skipif(not FONT.exists(), reason="fonts-noto-cjk is not installed (make test installs it)")

SCANNED_PLAN = ["东湖街道2024年工作计划", "一、城市管理", "（一）全年拆除违法建筑3.2万平方米，新建口袋公园5座。",
                "（二）完成老旧小区加装电梯12台，惠及居民3200户。", "二、民生保障", "1.新增养老床位150张。",
                "2.举办招聘会6场，新增就业岗位860个。"]


def scanned_pdf(lines: list[str], pages: int = 1) -> bytes:
    """An image-only PDF: each page an A4 picture at 150 dpi of the lines (a scan has no text layer)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), 34)
    images = []
    for _ in range(pages):
        image = Image.new("L", (1240, 1754), 255)
        draw = ImageDraw.Draw(image)
        for row, line in enumerate(lines):
            draw.text((110, 120 + 70 * row), line, font=font, fill=0)
        images.append(image)
    buffer = io.BytesIO()
    images[0].save(buffer, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return buffer.getvalue()


def test_ocr_boxes_are_put_back_into_lines_in_reading_order():
    def box(left, top, right, bottom):
        return [[left, top], [right, top], [right, bottom], [left, bottom]]

    boxes = [(box(300, 102, 520, 138), "新建口袋公园5座。", 0.98),      # the right half of the second line
             (box(100, 20, 400, 60), "东湖街道2024年工作计划", 0.99),
             (box(100, 100, 290, 140), "全年拆违3.2万平方米，", 0.97),    # a little higher: the same line
             (box(100, 180, 200, 220), "PM2.5", 0.95), (box(210, 182, 300, 218), "下降5%", 0.95),
             (box(100, 260, 200, 300), "Work", 0.9), (box(210, 260, 300, 300), "plan", 0.9),
             (box(600, 600, 640, 640), "囗", 0.2)]                            # a speck read with little confidence
    assert lines_from_boxes(boxes) == ["东湖街道2024年工作计划", "全年拆违3.2万平方米，新建口袋公园5座。",
                                       "PM2.5下降5%", "Work plan"]


@needs_font
def test_a_scanned_plan_is_read_by_ocr_with_its_headings_and_facts(tmp_path):
    path = tmp_path / "东湖街道2024年工作计划.pdf"
    path.write_bytes(scanned_pdf(SCANNED_PLAN))
    document = load_document(path)
    for line in SCANNED_PLAN[1:]:
        assert line in document.text
    chunks = chunk_document(document.doc_id, document.text)
    [chunk] = [c for c in chunks if "3.2万平方米" in c.text]
    assert chunk.section_path[0] == "一、城市管理"


@needs_font
def test_the_quick_check_of_an_upload_does_not_ocr_and_accepts_a_scan():
    data = scanned_pdf(SCANNED_PLAN)
    with pytest.raises(ScannedPdf):
        read_bytes("scan.pdf", data, ocr=False)
    checked = check_upload(data, "东湖街道2024年工作计划.pdf")
    assert (checked.name, checked.kind, checked.text) == ("东湖街道2024年工作计划.pdf", "pdf", "")   # OCR comes later
    typed = check_upload("东湖街道2024年工作计划\n完成3万平方米拆违任务。".encode(), "东湖.txt")
    assert "3万平方米" in typed.text                   # read once here: the caller does not read it again


@needs_font
def test_without_ocr_installed_a_scan_is_refused_in_chinese(monkeypatch):
    import retrieval.corpus.uploads as uploads

    monkeypatch.setattr(uploads, "ocr_available", lambda: False)
    with pytest.raises(UploadRejected) as caught:
        check_upload(scanned_pdf(SCANNED_PLAN), "scan.pdf")
    assert "扫描件" in caught.value.message_zh


@needs_font
def test_a_pdf_of_text_pages_and_a_scanned_page_keeps_the_page_order():
    writer = PdfWriter()
    for data in (build_pdf([ascii_text_stream("Cover page 2024")]), scanned_pdf(SCANNED_PLAN[:3]),
                 build_pdf([ascii_text_stream("Closing page")])):
        writer.append(PdfReader(io.BytesIO(data)))
    buffer = io.BytesIO()
    writer.write(buffer)
    lines = read_bytes("mixed.pdf", buffer.getvalue()).splitlines()
    assert lines[0] == "Cover page 2024" and lines[-1] == "Closing page"
    assert lines[1:-1] == SCANNED_PLAN[:3]


@needs_font
@pytest.mark.slow
def test_a_question_on_a_scanned_plan_is_answered_from_it(tmp_path):
    from retrieval.encode.encoders import HashingEncoder
    from retrieval.engine import SearchEngine
    from tests.test_engine import copy_corpus

    corpus = copy_corpus(tmp_path / "corpus")
    (corpus / "东湖街道2024年工作计划.pdf").write_bytes(scanned_pdf(SCANNED_PLAN))
    engine = SearchEngine.open(corpus, tmp_path / "index", encoder=HashingEncoder(256))
    result = engine.ask("东湖街道今年拆除违法建筑多少平方米")
    assert result.answer is not None and result.answer.fact == "3.2万平方米"
    assert engine.chunks[result.answer.chunk_id].doc_id == "东湖街道2024年工作计划.pdf"


@needs_font
def test_a_scanned_upload_is_stored_with_a_note_and_answered_once_read(tmp_path):
    """The upload is checked without OCR and stored at once, with a note; its indexing reads it by OCR."""
    import shutil

    from tests.app_server import ROOT
    from tests.fake_indexing import ImmediateQueue
    from tests.fakes import FakeEngine
    from ui.operations import EngineService

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(ROOT / "corpus" / "吴淞街道2021年工作要点.txt", corpus)
    engine = FakeEngine(corpus)
    engine.indexing = ImmediateQueue(engine)
    service = EngineService(engine, corpus)
    source = tmp_path / "东湖街道2024年工作计划.pdf"
    source.write_bytes(scanned_pdf(SCANNED_PLAN))
    outcome = service.upload(source, source.name)
    assert outcome.doc_id == source.name and (corpus / source.name).is_file()
    assert any("扫描件" in warning for warning in outcome.warnings)
    turn = service.ask("东湖街道今年拆除违法建筑多少平方米", None, None, None)
    assert turn.citations and turn.citations[0].meta.doc_id == source.name
    assert "3.2万平方米" in turn.citations[0].answer.text


@needs_font
def test_a_build_forked_after_ocr_in_this_process_reads_its_documents(tmp_path, monkeypatch):
    """Worker processes forked after this process used OCR neither hang nor reuse its recogniser."""
    from retrieval.index import reading

    read_bytes("scan.pdf", scanned_pdf(SCANNED_PLAN[:2]))            # the recogniser now lives in this process
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for number in range(4):
        (corpus / f"测试街道{number}.txt").write_text(f"测试街道{number}\n一、概况\n新建口袋公园{number}座。\n",
                                                   encoding="utf-8")
    (corpus / "东湖街道2024年工作计划.pdf").write_bytes(scanned_pdf(SCANNED_PLAN))
    monkeypatch.setattr(reading, "BUILD_WORKERS", 2)
    documents, skipped = reading.read_in_parallel(corpus, frozenset())
    assert not skipped and len(documents) == 5
    assert "3.2万平方米" in documents["东湖街道2024年工作计划.pdf"].text
