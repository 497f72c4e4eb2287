"""Uploads: names cannot escape corpus/, the content decides the type, failures write nothing."""
import io
import os

import docx
import pytest

from retrieval.corpus import uploads
from retrieval.corpus.uploads import UploadRejected, safe_corpus_name, store_upload

PLAN = "测试街道2022年工作计划\n一、总体要求\n全年新建口袋公园12座。\n".encode()


def docx_bytes(*paragraphs):
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, expected",
    [
        ("../../x", "x"),
        ("../../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path/计划.txt", "计划.txt"),
        ("..", "upload"),
        (".hidden.txt", "hidden.txt"),
        ("a<b>c:d|e?.txt", "a_b_c_d_e_.txt"),
        ("  吴淞 \t 计划 .TXT ", "吴淞 计划.txt"),
        ("x\x00y.txt", "x_y.txt"),
    ],
)
def test_safe_corpus_name_keeps_only_a_plain_file_name(name, expected):
    assert safe_corpus_name(name) == expected


def test_safe_corpus_name_lets_the_content_decide_the_suffix_and_limits_length():
    assert safe_corpus_name("报告.pdf", ".txt") == "报告.txt"
    assert safe_corpus_name("../../x", ".txt") == "x.txt"
    long_name = safe_corpus_name("长" * 500 + ".txt")
    assert len(long_name.encode()) < 255 and long_name.endswith(".txt")


def test_a_text_upload_is_written_inside_the_corpus_with_its_bytes(tmp_path):
    stored = store_upload(PLAN, "../../x", tmp_path)
    assert stored.path == tmp_path.resolve() / "x.txt"
    assert stored.path.read_bytes() == PLAN and stored.kind == "text"
    assert sorted(os.listdir(tmp_path)) == ["x.txt"]          # no temporary file left behind


def test_the_content_not_the_name_decides_the_type(tmp_path):
    stored = store_upload(docx_bytes("测试街道2022年工作计划", "全年新建口袋公园12座。"), "计划.txt", tmp_path)
    assert stored.doc_id == "计划.docx" and stored.kind == "docx"
    with pytest.raises(UploadRejected) as rejected:
        store_upload(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "看起来是文本.txt", tmp_path)
    assert "不支持这种文件" in rejected.value.message_zh and ".docx" in rejected.value.message_zh
    assert os.listdir(tmp_path) == ["计划.docx"]


def test_markdown_keeps_its_suffix(tmp_path):
    assert store_upload(PLAN, "notes.md", tmp_path).doc_id == "notes.md"


def test_a_name_clash_gets_a_number_and_the_existing_file_is_untouched(tmp_path):
    (tmp_path / "计划.txt").write_bytes(b"old")
    first = store_upload(PLAN, "计划.txt", tmp_path)
    second = store_upload(PLAN, "计划.txt", tmp_path)
    assert (first.doc_id, second.doc_id) == ("计划-2.txt", "计划-3.txt")
    assert (tmp_path / "计划.txt").read_bytes() == b"old"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "空的"),
        (b"%PDF-1.7\nnot really a pdf", "无法读取"),
        (b"PK\x03\x04" + b"\x00" * 200, "不支持"),           # a zip that is not a .docx
        (b"   \n\n  ", "无法读取"),                            # text with no text in it
    ],
)
def test_bad_files_are_rejected_with_a_chinese_message_and_nothing_written(tmp_path, data, message):
    (tmp_path / "existing.txt").write_bytes(PLAN)
    with pytest.raises(UploadRejected) as rejected:
        store_upload(data, "坏文件.txt", tmp_path)
    assert message in rejected.value.message_zh and "。" in rejected.value.message_zh
    assert os.listdir(tmp_path) == ["existing.txt"]


def test_the_size_limit_is_checked_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(UploadRejected) as rejected:
        store_upload(PLAN * 10, "big.txt", tmp_path)
    assert "文件太大" in rejected.value.message_zh and "拆成几份" in rejected.value.message_zh
    assert os.listdir(tmp_path) == []


def test_a_file_just_over_20_megabytes_is_refused_and_one_at_the_limit_is_not(tmp_path):
    text = "某街道2022年工作计划\n".encode("utf-8")
    at_limit = text + b" " * (20 * 1024 * 1024 - len(text))
    assert store_upload(at_limit, "刚好.txt", tmp_path).doc_id == "刚好.txt"
    with pytest.raises(UploadRejected, match="MB"):
        store_upload(at_limit + b" ", "超了.txt", tmp_path)


def test_a_long_name_of_wide_characters_still_fits_the_file_system(tmp_path):
    """The name limit is in bytes: 100 emoji (400 bytes) or 120 CJK characters (360 bytes) must not
    make the write fail with "file name too long"."""
    for name in ("😀" * 100 + ".txt", "街" * 120 + ".txt"):
        stored = store_upload(PLAN, name, tmp_path)
        assert (tmp_path / stored.doc_id).read_bytes() == PLAN
        assert len(stored.doc_id.encode("utf-8")) <= 255
