"""The answer-kind table, the candidate generators and the fitted fact weights, on invented sentences.

Each class of mistake the fact step used to make on unseen questions (issue 23) has its own sentences here, none
taken from the evaluation sets. `top` is the candidate the fitted weights rank first; whether it is shown is the
gate's business (the last tests).
"""
from __future__ import annotations

import json

import pytest

from retrieval.answer.candidates import FEATURE_NAMES, GENERATORS
from retrieval.answer.fact_model import FactModelError, load_model, read_model
from retrieval.answer.facts import choose_fact, extract_fact, rank_candidates
from retrieval.answer.kinds import KINDS, kind_named, kind_of
from retrieval.search.query import analyze_query
from retrieval.text.tokenizer import JiebaTokenizer


def _weights(question: str) -> dict[str, float]:
    return {term: 1.0 for term in JiebaTokenizer()(question)}


def top(question: str, sentence: str) -> str:
    ranked = rank_candidates(sentence, analyze_query(question, {}), _weights(question))
    return ranked[0].candidate.text if ranked else ""


# ------------------------------------------------------------------------------------------------ the table
@pytest.mark.parametrize("question, kind", [
    ("那个通知的文号是什么", "doc_number"),
    ("工作总结是哪天发布的", "date"),
    ("安置房是几号地块", "label"),
    ("今年要办哪些赛事", "list"),
    ("有没有提到垃圾分类", "yes_no"),
    ("党建模式是几加几", "shaped"),
    ("今年拆违任务多少平方米", "quantity"),
    ("这几年新增了几家企业", "quantity"),
    ("报告是谁作的", "person"),
    ("镇长叫什么", "person"),
    ("矛盾纠纷怎么化解", "phrase"),
    ("这几年在招商上形成了什么共识", "phrase"),           # 这几年 asks no number
    ("想把新城打造成什么", "phrase"),
    ("科创街在哪条路上", "place"),
    ("数据基地在哪个市", "place"),
    ("人才计划是哪个", "entity"),
    ("介绍一下街道的情况", "other"),
])
def test_each_question_gets_the_first_kind_of_the_table_it_asks_by(question, kind):
    assert kind_of(question).name == kind
    assert analyze_query(question, {}).answer_kind == kind


def test_every_kind_names_known_generators_and_a_gate():
    for kind in KINDS:
        assert kind.generators or kind.name == "other", kind.name
        assert set(kind.generators) <= set(GENERATORS), kind.name
        assert kind.gate in ("number", "name", "phrase"), kind.name
    with pytest.raises(KeyError, match="unknown answer kind 'colour'"):
        kind_named("colour")


# ------------------------------------------------------------------------------------------------ the classes
@pytest.mark.parametrize("question, sentence, expected", [
    # 1. The name the sentence attaches to the asked category, never the category word itself.
    ("今年要创建的文明小区是哪个？", "推动锦绣小区创建市级文明小区。", "锦绣小区"),
    ("改造的那座老厂房叫什么？", "完成红星机械厂老厂房改造。", "红星机械厂"),
    ("要保护的湿地是哪片？", "加强白鹭洲湿地保护。", "白鹭洲"),
    ("新医院由哪家单位运营？", "新医院由区人民医院运营。", "区人民医院"),
    ("要推广的智慧养老平台叫什么？", "上线“安心养”智慧养老平台，服务老人1200人。", "安心养"),
    ("人才计划是哪个？", "实施“东湖英才”计划，引进人才300名。", "东湖英才"),
    ("新上线的政务服务平台叫什么？", "“一网通办”政务服务平台全面上线运行。", "一网通办"),
])
def test_the_name_not_the_category_word(question, sentence, expected):
    assert top(question, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # 2. A numbered slogan is the answer when the question asks its noun.
    ("要做到几个到位？", "各村要做到“四个到位”，全年排查隐患120处。", "四个到位"),
    ("防汛要落实几个到位？", "汛期落实“五个到位”，转移群众300人。", "五个到位"),
    ("干部作风要坚持几个一线？", "坚持“三个一线”工作法，走访企业200家。", "三个一线"),
])
def test_a_numbered_slogan_when_its_noun_is_asked(question, sentence, expected):
    assert top(question, sentence) == expected


def test_a_slogan_is_no_amount_of_anything_else():
    # 几个 asks for 项目 here: “四个到位” is no count of projects.
    assert top("今年开工几个项目？", "落实“四个到位”要求，全年开工项目12个。") == "12个"


@pytest.mark.parametrize("question, sentence, expected", [
    # 3. A question shaped like its answer wants the span of that shape.
    ("党建模式是几加几？", "探索“3+2”党建模式，覆盖全部社区。", "3+2"),
    ("议事机制是几上几下？", "推行“两上两下”议事机制，年内议事40次。", "两上两下"),
    ("服务模式是几加几？", "打造“1+N”服务阵地，形成“4+1”服务模式。", "4+1"),
])
def test_values_shaped_like_the_question(question, sentence, expected):
    assert top(question, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # 4. Units people write.
    ("新建公园面积多少平方米？", "新建口袋公园3处，面积1.2万㎡。", "1.2万㎡"),
    ("湿地公园占地多少公顷？", "建成湿地公园，占地120公顷，栽种苗木3000株。", "120公顷"),
    ("今年接待游客多少人次？", "全年接待游客85万人次，实现旅游收入6亿元。", "85万人次"),
    ("高标准农田建了多少亩？", "建成高标准农田2.3万亩，新建机耕路15公里。", "2.3万亩"),
])
def test_units_people_write(question, sentence, expected):
    assert top(question, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # 5. People: after a title in signature and meeting lines, before 代表…作报告.
    ("这份报告是谁作的？", "——2026年1月20日在某某市第五届人民代表大会第三次会议上\n市长 李明华", "李明华"),
    ("镇长叫什么？", "某某镇人民政府镇长 张建国", "张建国"),
    ("报告是哪位省长作的？", "某某省人民政府省长 赵文成", "赵文成"),
])
def test_people_after_a_title(question, sentence, expected):
    assert top(question, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # 6. Two candidates of the right kind: the one that shares the question's content.
    ("有没有发生安全事故？", "全年实现“零投诉”“零事故”。", "零事故"),
    ("有没有出现信访积案？", "做到“零积案”“零上访”。", "零积案"),
    ("有没有提到垃圾分类？", "推行“垃圾分类”“光盘行动”两项新风。", "垃圾分类"),
])
def test_yes_no_chooses_the_candidate_sharing_the_question(question, sentence, expected):
    assert top(question, sentence) == expected


@pytest.mark.parametrize("question, sentence, expected", [
    # 7. How-questions: a quoted term or a measure, never a number of the sentence.
    ("矛盾纠纷怎么化解？", "建立“一户一档”，实行台账销号管理，化解纠纷56处。", "一户一档"),
    ("垃圾分类怎么推进？", "推行“定时定点”投放，整改点位1200个。", "定时定点"),
    ("老旧电梯怎么管？", "实行“一梯一码”管理，加装电梯32台。", "一梯一码"),
])
def test_how_questions_get_a_term_not_a_number(question, sentence, expected):
    assert top(question, sentence) == expected


# ------------------------------------------------------------------------------------------------ the gate
def test_a_question_whose_words_are_the_only_candidate_gets_no_fact():
    for question, sentence in (("那个平台叫什么？", "加快平台建设。"),
                               ("文明小区是哪个？", "推进文明小区创建。"),
                               ("人才计划是哪个？", "深化人才计划。")):
        assert extract_fact(sentence, analyze_query(question, {}), _weights(question)) == "", question


def test_a_low_confidence_fact_is_not_shown_but_a_clear_one_is():
    clear = choose_fact("全年新建口袋公园17座，新增绿地2.6公顷。", analyze_query("新建多少座口袋公园？", {}),
                        _weights("新建多少座口袋公园？"))
    assert clear.shown and clear.fact == "17座" and clear.confidence >= load_model().threshold("number")
    # Two projects named alike, neither more the answer than the other: the best guess stays unshown.
    torn = choose_fact("推进智慧社区项目和海绵城市项目建设。", analyze_query("那个项目叫什么？", {}), {})
    assert torn.text in ("智慧社区", "海绵城市") and not torn.shown and torn.fact == ""
    assert torn.confidence < load_model().threshold(kind_named("entity").gate) <= clear.confidence


def test_the_page_shows_the_sentence_without_a_big_fact_below_the_gate():
    from retrieval.types import Answer
    from ui.render import answer_block

    sentence = "推进智慧社区项目和海绵城市项目建设。"
    assert extract_fact(sentence, analyze_query("那个项目叫什么？", {}), {}) == ""
    quiet = answer_block(Answer(text=sentence, chunk_id="c", char_span=(0, len(sentence)), confidence=0.4, fact=""), [])
    assert 'data-fact-shown="0"' in quiet and "answer-fact" not in quiet and sentence in quiet
    shown = answer_block(Answer(text="全年新建口袋公园17座。", chunk_id="c", char_span=(0, 12), confidence=0.9,
                                fact="17座"), [])
    assert 'data-fact-shown="1"' in shown and '<mark class="fact">17座</mark>' in shown


# ------------------------------------------------------------------------------------------------ the weights
def test_the_shipped_weights_load_versioned_for_these_features():
    model = load_model()
    assert set(model.features) == set(FEATURE_NAMES)
    assert 0 < model.threshold("number") <= 1.01 and model.trained_on["gold_questions"] > 0


def _written(tmp_path, change):
    data = json.loads(json.dumps(load_model().to_json()))
    change(data)
    path = tmp_path / "weights.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_missing_damaged_or_stale_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FactModelError, match="not found.*train-facts"):
        read_model(tmp_path / "none.json", FEATURE_NAMES)
    damaged = _written(tmp_path, lambda data: data["coef"].__setitem__(0, data["coef"][0] + 1))
    with pytest.raises(FactModelError, match="damaged"):
        read_model(damaged, FEATURE_NAMES)
    (tmp_path / "garbage.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(FactModelError, match="cannot be read"):
        read_model(tmp_path / "garbage.json", FEATURE_NAMES)
    stale = _written(tmp_path, lambda data: data.__setitem__("version", 0))
    with pytest.raises(FactModelError, match="version 0"):
        read_model(stale, FEATURE_NAMES)
    with pytest.raises(FactModelError, match="other features"):
        read_model(_written(tmp_path, lambda data: None), FEATURE_NAMES + ("a_feature_nobody_has",))
    assert read_model(_written(tmp_path, lambda data: None), FEATURE_NAMES) == load_model()
