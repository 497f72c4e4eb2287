"""Page boilerplate is recognised by its shape, labels, position and repetition, on pages made up here:
it goes, its fields are read off, and document lines that merely mention a label word stay."""
from __future__ import annotations

import re

import pytest

from retrieval.ingest.boilerplate import page_boilerplate, parse_date
from retrieval.ingest.cleaning import clean_text

BODY = [
    "今年以来，街道坚持稳中求进工作总基调，全力推动经济社会高质量发展，各项工作取得新成效。",
    "一、全力稳住经济基本盘",
    "全年完成区级税收4.2亿元，同比增长6.5%，新引进重点企业12家，盘活闲置楼宇面积3万平方米。",
    "二、持续改善民生福祉",
    "新建社区食堂3家，完成老旧小区改造5个，惠及居民2600户，新增就业岗位1500个。",
]


def cleaned_lines(lines: list[str]):
    result = clean_text("\n".join(lines))
    return result.text.split("\n"), result.fields


def test_a_government_page_header_goes_and_its_fields_are_read():
    page = [
        "选择语言",
        "您现在的位置：首页 > 信息公开 > 规划计划",
        "某街道2024年工作计划",
        "索引号：11310000/2024-00123 发布机构：某区某街道办事处",
        "公开方式：主动公开 成文日期：2024-01-10",
        "发布时间：2024-01-15 09:30 来源：某街道 浏览次数：358 字体：[大 中 小] 打印 关闭",
        *BODY,
    ]
    lines, fields = cleaned_lines(page)
    # Navigation and page furniture go; the page's information block (publication, issuer) stays as text.
    assert lines == ["某街道2024年工作计划", "索引号：11310000/2024-00123；发布机构：某区某街道办事处",
                     "成文日期：2024-01-10", "发布时间：2024-01-15 09:30；来源：某街道", *BODY]
    assert fields == {
        "breadcrumb": "信息公开 > 规划计划",
        "index_number": "11310000/2024-00123",
        "issuer": "某区某街道办事处",
        "published": "2024-01-10",            # the document's own date wins over the page's
        "source": "某街道",
    }


def test_a_label_table_remnant_and_a_label_per_line_list_keep_only_their_information():
    table = [
        "[ 索 引 号 ] | 0012-2023-004 | [ 文 号 ] | 某府发〔2023〕15号 |",
        "[ 发布机构 ] | 某县人民政府 | [ 有效性 ] | |",
        "[ 发布日期 ] | 2023/3/8 | [ 主题分类 ] | 综合政务 |",
        "某县2023年政府工作报告",
        *BODY,
    ]
    lines, fields = cleaned_lines(table)
    assert lines == ["[索引号]|0012-2023-004|[文号]|某府发〔2023〕15号", "[发布机构]|某县人民政府", "[发布日期]|2023/3/8",
                     "某县2023年政府工作报告", *BODY]
    assert fields == {"index_number": "0012-2023-004", "doc_number": "某府发〔2023〕15号",
                      "issuer": "某县人民政府", "published": "2023-03-08"}

    listing = ["某镇2022年工作总结", "- 索引号", "- 000123-2023-0008", "- 发文机关", "- 某县某镇人民政府",
               "- 文 号", "- 浏览量", "- 日期", "- 2023年2月1日", *BODY]
    lines, fields = cleaned_lines(listing)
    assert lines == ["某镇2022年工作总结", "发文机关", "某县某镇人民政府", "日期", "2023年2月1日", *BODY]
    assert fields == {"index_number": "000123-2023-0008", "issuer": "某县某镇人民政府", "published": "2023-02-01"}


def test_label_words_inside_the_document_stay():
    body = [
        BODY[0],
        "资金来源：区财政拨款和街道自筹，共计500万元。",
        "来源：街道统计站",                     # a single weak label in the middle of the document
        "日期：2024年3月 地点：社区活动中心",
        "加强项目管理，明确时间节点、资金来源和责任主体，确保项目按期完成。",
        *BODY[1:],
    ]
    lines, fields = cleaned_lines(["某街道2024年工作计划", *body])
    assert lines == ["某街道2024年工作计划", *(line.replace(" ", "") for line in body)]
    assert fields == {}


def test_a_document_sharing_wrapper_goes():
    page = ["2023-05-06 发布 |", "- 86.5 KB |", "- 共12页", "1234次下载",
            "免责声明：本站所有文档均由用户上传，本站不保证文档的完整性，如有侵权请联系删除。",
            "文档介绍", "某开发区2022年工作总结", *BODY, "查看更多"]
    lines, fields = cleaned_lines(page)
    assert lines == ["某开发区2022年工作总结", *BODY]
    assert fields == {"published": "2023-05-06"}


def test_watermarks_page_numbers_and_a_site_footer_go():
    watermark = "内部资料 注意保存"
    page = ["某乡2021年工作要点", watermark, BODY[0], BODY[1], "- 2 -", watermark, BODY[2], BODY[3],
            "第 3 页 共 4 页", watermark, BODY[4],
            "【打印本页】【关闭窗口】", "版权所有：某乡人民政府 主办单位：某乡党政办公室", "网站标识码：1234000001",
            "某ICP备12345678号"]
    lines, _ = cleaned_lines(page)
    assert lines == ["某乡2021年工作要点", *BODY]


def test_a_title_shown_three_times_is_kept_once():
    page = ["【某街道】 某街道2021年工作计划", "字体：【大 中 小】", "某街道2021年工作计划", "某 街 道 2021 年 工 作 计 划",
            *BODY]
    lines, _ = cleaned_lines(page)
    assert lines == ["某街道2021年工作计划", *BODY]


def test_a_short_line_repeated_as_a_heading_is_not_a_watermark():
    """Numbered headings may repeat word for word in different parts; they are content."""
    page = ["某镇工作计划", "一、工作目标", BODY[0], "二、主要任务", BODY[2], "（一）工作目标", BODY[4],
            "（二）工作目标", BODY[0]]
    lines, _ = cleaned_lines(page)
    assert lines == page


@pytest.mark.parametrize(("text", "expected"), [
    ("2021年02月26日", "2021-02-26"),
    ("发布时间:2022-01-25 11:58:41", "2022-01-25"),
    ("2023/3/8", "2023-03-08"),
    ("2021.12.31", "2021-12-31"),
    ("2021-13-01", None),
    ("共12页", None),
])
def test_dates_are_read_in_the_forms_pages_print(text, expected):
    assert parse_date(text) == expected


def test_the_page_boilerplate_keeps_blank_line_positions():
    """`keep` indexes the lines as given, so the caller keeps its raw offsets."""
    page = ["当前位置：首页 > 新闻", "", "标题一二三四", "", BODY[0]]
    assert page_boilerplate(page).keep == [2, 4]


def test_cleaned_text_keeps_the_information_block_and_drops_the_rest():
    page = ["首页", "> 政务公开 > 信息公开目录 > 工作报告", "索引号: 0001/2020-1 发布机构: 某镇",
            "公开方式: 主动公开 发文日期: 2020-02-02", "组配分类: 工作报告 文件编号:", "某镇2019年工作报告",
            "发布时间:2020-03-01 10:00 来源: 浏览次数: 打印", *BODY]
    text = clean_text("\n".join(page)).text
    for word in ("首页", "政务公开", "公开方式", "组配分类", "文件编号", "浏览次数", "打印"):
        assert word not in text
    assert text.split("\n")[:4] == ["索引号:0001/2020-1；发布机构:某镇", "发文日期:2020-02-02", "某镇2019年工作报告",
                                    "发布时间:2020-03-01 10:00；来源:"]
    assert re.sub(r"\s", "", text).endswith(BODY[-1])


def test_values_repeated_in_a_table_are_not_watermarks():
    """A PDF table extracts one cell a line: the same short status several times, among short cells."""
    table = ["项目名称", "进度", "污水管网改造", "已完成", "道路提升工程", "已完成", "口袋公园建设", "已完成", "菜场改造", "推进中"]
    page = ["某街道2023年工作总结", BODY[0], *table, BODY[2]]
    lines, _ = cleaned_lines(page)
    assert lines == page


def test_process_flows_and_contact_lines_of_a_document_stay():
    page = ["某街道2024年工作计划", BODY[0], "居民申请 → 社区初审 → 街道审核 → 公示发放",
            "办事流程：受理 > 审核 > 办结 > 回访", BODY[2], "联系人：王某某 联系电话：0123-4567890"]
    lines, _ = cleaned_lines(page)
    assert lines == [line.replace(" ", "") for line in page]
