"""`python -m retrieval docs`: every document's derived metadata straight from the corpus directory,
without building or loading an index; unreadable files listed with their reason."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from retrieval.__main__ import main
from retrieval.corpus.files import load_corpus
from tests.seeds import CORPUS, SEED_001, SEED_003, SEED_004

PROJECT = Path(__file__).resolve().parents[1]
WEB_DEV_DOC = Path("/work/shared/eval/web-dev/docs/木洞镇2024年政府工作报告.txt")


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """Three seeds with the project's metadata.yaml, a web page made up here, and a file that cannot be read."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in (SEED_001, SEED_003, SEED_004, "metadata.yaml"):
        shutil.copy(CORPUS / name, corpus / name)
    (corpus / "桃源镇2024年政府工作报告.txt").write_text(
        "[ 索引号 ] | 0012/2024-00007 | [ 发文字号 ] | 桃府发〔2024〕2号 |\n"
        "[ 发布机构 ] | 綦南区桃源镇 | [ 发布日期 ] | 2024-02-22 |\n"
        "綦南区桃源镇人民政府\n2024年政府工作报告\n——2024年1月23日在綦南区桃源镇第二十届人民代表大会第八次会议上\n"
        "各位代表：\n现在，我代表桃源镇人民政府向大会作工作报告，请予审议。\n"
        "一、2023年工作回顾\n一年来，我们坚持稳中求进，全镇固定资产投资同比增长20.1%。\n",
        encoding="utf-8")
    (corpus / "空白.txt").write_text("   \n\n", encoding="utf-8")
    return corpus


def run_docs(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["docs", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_lists_every_field_of_every_document(small_corpus, capsys):
    code, out, _ = run_docs(capsys, "--json", "--corpus", str(small_corpus))
    assert code == 0
    rows = {row["file"]: row for row in json.loads(out)}
    town = rows["桃源镇2024年政府工作报告.txt"]
    assert town == {"file": "桃源镇2024年政府工作报告.txt", "title": "桃源镇2024年政府工作报告", "org": "桃源",
                    "aliases": ["桃源镇", "綦南桃源", "綦南区桃源镇"], "years": [2023, 2024], "kind": "政府工作报告",
                    "period": "", "published": "2024-02-22", "issuer": "綦南区桃源镇", "doc_number": "桃府发〔2024〕2号",
                    # 綦南区 is made up: the gazetteer places no 桃源镇 there, so the town has no parent chain.
                    "level": "镇", "parents": [], "code": "", "speaker": ""}
    reason = load_corpus(small_corpus).errors["空白.txt"]
    assert reason and rows["空白.txt"] == {"file": "空白.txt", "error": reason}


def test_seed_organisations_follow_metadata_yaml(small_corpus, capsys):
    _, out, _ = run_docs(capsys, "--json", "--corpus", str(small_corpus))
    rows = {row["file"]: row for row in json.loads(out)}
    overrides = yaml.safe_load((CORPUS / "metadata.yaml").read_text(encoding="utf-8"))
    for seed in (SEED_003, SEED_004):
        assert rows[seed]["org"] == overrides[seed]["org"]
        assert set(overrides[seed]["aliases"]) <= set(rows[seed]["aliases"])
    assert rows[SEED_001]["org"] == "吴淞"                       # derived from the title
    assert rows[SEED_001]["aliases"][-1] == "宝山"               # the override's alias after the derived ones


def test_plain_output_is_a_table_with_the_unreadable_file_and_its_reason(small_corpus, capsys):
    code, out, _ = run_docs(capsys, "--corpus", str(small_corpus))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["文件", "标题", "单位", "级别", "上级"]
    town_line = next(line for line in lines if line.startswith("桃源镇2024年政府工作报告.txt"))
    assert "桃源" in town_line and "2023、2024" in town_line and "桃府发〔2024〕2号" in town_line
    reason = load_corpus(small_corpus).errors["空白.txt"]
    assert any("空白.txt" in line and reason in line for line in lines)
    assert lines[-1] == "4 个文档，1 个文件无法读取"


def test_missing_corpus_directory_exits_2_with_the_fix(tmp_path, capsys):
    code, out, err = run_docs(capsys, "--corpus", str(tmp_path / "nowhere"))
    assert code == 2 and out == ""
    assert "nowhere" in err and "does not exist" in err


def test_no_index_is_built(small_corpus, tmp_path):
    """Run as a user would, from a directory without an index: the listing leaves no index behind."""
    result = subprocess.run([sys.executable, "-m", "retrieval", "docs", "--json", "--corpus", str(small_corpus)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus"]


@pytest.mark.skipif(not WEB_DEV_DOC.exists(), reason=f"the web-dev set is not at {WEB_DEV_DOC.parent}")
def test_a_real_page_lists_its_page_fields(tmp_path, capsys):
    shutil.copy(WEB_DEV_DOC, tmp_path / WEB_DEV_DOC.name)
    _, out, _ = run_docs(capsys, "--json", "--corpus", str(tmp_path))
    (row,) = json.loads(out)
    assert (row["org"], row["years"], row["doc_number"]) == ("木洞", [2023, 2024], "木洞府发〔2024〕2号")


def test_a_provincial_report_lists_its_level_code_and_speaker(tmp_path, capsys):
    """Made-up report: the province comes from the title, the speaker from the signature line."""
    (tmp_path / "报告.txt").write_text(
        "2025年湖南省政府工作报告\n——2025年1月20日在湖南省第十四届人民代表大会第三次会议上\n湖南省人民政府省长 李明远\n"
        "各位代表：\n一、2024年工作回顾\n全省深化开发区管理制度改革，建设宜居宜业和美乡村，地区生产总值增长5%。\n",
        encoding="utf-8")
    _, out, _ = run_docs(capsys, "--json", "--corpus", str(tmp_path))
    (row,) = json.loads(out)
    assert (row["org"], row["level"], row["parents"], row["code"], row["speaker"]) == ("湖南", "省", [], "430000", "李明远")
    assert row["title"] == "2025年湖南省政府工作报告" and row["years"] == [2024, 2025]
    _, table, _ = run_docs(capsys, "--corpus", str(tmp_path))
    assert "湖南" in table.splitlines()[1] and "省" in table.splitlines()[1]
