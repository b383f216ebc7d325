"""Tokenizer: exact tokens, positions and offsets; rjieba agrees with jieba."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from indexer import (
    add_user_words,
    analyzer,
    dictionary_fingerprint,
    is_code,
    normalize_text,
    tokenize,
)
from indexer._tokenize import _norm_tables, changed_chars, han_spans, segment, subwords


def toks(text: str, search: bool = False) -> list[tuple[str, int, int, int]]:
    return [tuple(t) for t in tokenize(text, search=search)]  # type: ignore[misc]


def test_words_positions_offsets() -> None:
    assert toks("产教融合是双高计划的重点") == [
        ("产教融合", 0, 0, 4),
        ("是", 1, 4, 5),
        ("双高计划", 2, 5, 9),
        ("的", 3, 9, 10),
        ("重点", 4, 10, 12),
    ]


def test_search_mode_parts_share_the_word_position() -> None:
    assert toks("产教融合是双高计划", search=True) == [
        ("产教融合", 0, 0, 4),
        ("产教", 0, 0, 2),
        ("教融", 0, 1, 3),
        ("融合", 0, 2, 4),
        ("是", 1, 4, 5),
        ("双高计划", 2, 5, 9),
        ("双高", 2, 5, 7),
        ("高计", 2, 6, 8),
        ("计划", 2, 7, 9),
    ]
    # all 2-character parts, then the dictionary words of 3+ characters inside
    assert subwords("中华人民共和国") == [
        *["中华", "华人", "人民", "民共", "共和", "和国"],
        *["共和国", "中华人民", "人民共和国"],
    ]
    assert subwords("人才培养方案") == ["人才", "才培", "培养", "养方", "方案", "人才培养"]
    assert subwords("订单班") == ["订单", "单班"]
    assert subwords("名单") == []


def test_word_inside_a_longer_run() -> None:
    assert toks("迅达电梯订单班学生名单", search=True) == [
        ("迅达", 0, 0, 2),
        ("电梯", 1, 2, 4),
        ("订单班", 2, 4, 7),
        ("订单", 2, 4, 6),
        ("单班", 2, 5, 7),
        ("学生名单", 3, 7, 11),
        ("学生", 3, 7, 9),
        ("生名", 3, 8, 10),
        ("名单", 3, 9, 11),
    ]


def test_codes_are_single_tokens() -> None:
    text = "见2.3.4-1、2.3.6-7-2、1.1.5.1和2.3.4.4；指标2.3"
    assert toks(text) == [
        ("见", 0, 0, 1),
        ("2.3.4-1", 1, 1, 8),
        ("2.3.6-7-2", 2, 9, 18),
        ("1.1.5.1", 3, 19, 26),
        ("和", 4, 26, 27),
        ("2.3.4.4", 5, 27, 34),
        ("指标", 6, 35, 37),
        ("2.3", 7, 37, 40),
    ]


def test_numbers_that_are_not_codes() -> None:
    assert toks("2035年，粤教职函〔2022〕24号，2020-2022级，任务5-1") == [
        ("2035", 0, 0, 4),
        ("年", 1, 4, 5),
        ("粤", 2, 6, 7),
        ("教职", 3, 7, 9),
        ("函", 4, 9, 10),
        ("2022", 5, 11, 15),
        ("24", 6, 16, 18),
        ("号", 7, 18, 19),
        ("2020", 8, 20, 24),
        ("2022", 9, 25, 29),
        ("级", 10, 29, 30),
        ("任务", 11, 31, 33),
        ("5", 12, 33, 34),
        ("1", 13, 35, 36),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2.3.4-1", True),
        ("2.3.6-7-2", True),
        ("1.1.5.1", True),
        ("2.3.4.4", True),
        ("2.3", True),
        (" ２．３．４－１ ", True),
        ("2035", False),
        ("2020-2022", False),
        ("5-1", False),
        ("2.3.4-", False),
        ("v1.2", False),
    ],
)
def test_is_code(text: str, expected: bool) -> None:
    assert is_code(text) is expected


def test_latin_and_numbers_mixed_with_chinese() -> None:
    assert toks("1+X证书 BIM技术 2022年 5G网络") == [
        ("1+x", 0, 0, 3),
        ("证书", 1, 3, 5),
        ("bim", 2, 6, 9),
        ("技术", 3, 9, 11),
        ("2022", 4, 12, 16),
        ("年", 5, 16, 17),
        ("5g", 6, 18, 20),
        ("网络", 7, 20, 22),
    ]


def test_line_wrap_between_han_characters_is_joined() -> None:
    text = "深化产教\r\n  融合，推进\n（一）现代学徒制"
    assert toks(text) == [
        ("深化", 0, 0, 2),
        ("产教融合", 1, 2, 10),  # offsets span the wrap in the original text
        ("推进", 2, 11, 13),
        ("一", 3, 15, 16),
        ("现代学徒制", 4, 17, 22),
    ]
    assert text[2:10] == "产教\r\n  融合"
    # parts of a wrapped word point at the original characters too
    assert [(t.text, t.start, t.end) for t in tokenize("产教\n融合")][1:] == [
        ("产教", 0, 2),
        ("教融", 1, 4),
        ("融合", 3, 5),
    ]


def test_line_break_next_to_latin_or_punctuation_stays_a_break() -> None:
    assert toks("BIM\n技术。\n产教") == [("bim", 0, 0, 3), ("技术", 1, 4, 6), ("产教", 2, 8, 10)]


def test_full_width_and_case_are_normalised_offsets_stay_in_the_original() -> None:
    text = "全角ＡＢＣ１２３，Ｈｅｌｌｏ"
    assert toks(text) == [("全角", 0, 0, 2), ("abc123", 1, 2, 8), ("hello", 2, 9, 14)]
    assert text[2:8] == "ＡＢＣ１２３"
    assert toks("ＡＢＣ１２３") == toks("abc123") == [("abc123", 0, 0, 6)]


def test_normalize_text_keeps_the_length() -> None:
    # ㈠ (NFKC: "(一)") and ﬁ ("fi") keep their place; İ lowercases to two characters
    assert normalize_text("ＡＢＣ１２３㈠ﬁİ⼀①") == "abc123㈠ﬁİ一1"
    assert normalize_text("ＨＥＬＬＯ World") == "hello world"
    assert normalize_text("，（）：") == "，（）："  # frequent punctuation is left as it is


def test_normalisation_table_covers_all_of_unicode() -> None:
    """The blocks scanned for changing characters hold every character NFKC changes."""
    assert changed_chars(range(0x80, 0x110000)) == _norm_tables().table


def test_user_words() -> None:
    assert toks("鲸鱼港湾码头") == [("鲸鱼", 0, 0, 2), ("港湾", 1, 2, 4), ("码头", 2, 4, 6)]
    added = add_user_words(
        ["鲸鱼港湾", " 鲸鱼港湾 ", "一个超过八个字的很长的标题不是词", "混合X词", "c#"]
    )
    assert added == 2  # 鲸鱼港湾 and the Latin word c#; the rest cannot be words
    assert toks("鲸鱼港湾码头") == [("鲸鱼港湾", 0, 0, 4), ("码头", 1, 4, 6)]
    assert toks("c#语言", search=True) == [("c#", 0, 0, 2), ("语言", 1, 2, 4)]
    # its parts are still indexed, so text indexed now is found by 鲸鱼 and 港湾
    assert [t.text for t in tokenize("鲸鱼港湾")] == ["鲸鱼港湾", "鲸鱼", "鱼港", "港湾"]
    assert add_user_words(["鲸鱼港湾"]) == 0


def test_dictionary_fingerprint_changes_with_words() -> None:
    before = dictionary_fingerprint()
    assert dictionary_fingerprint() == before
    add_user_words(["琥珀走廊"])
    assert dictionary_fingerprint() != before


def test_adding_words_while_other_threads_tokenize() -> None:
    """rjieba cuts without the GIL: adding words must not disturb a running cut."""
    text = "迅达电梯订单班学生名单，深化产教融合。" * 2000
    expected = len(tokenize(text))
    counts: list[int] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            counts.extend(len(tokenize(text)) for _ in range(3))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for word in ["线程甲词", "线程乙词", "线程丙词", "线程丁词", "线程戊词"]:
        assert add_user_words([word]) == 1
    for t in threads:
        t.join()
    assert (errors, counts) == ([], [expected] * 6)


def test_domain_words() -> None:
    assert [t.text for t in tokenize("推进现代学徒制和课程思政，建设专业群", search=False)] == [
        "推进",
        "现代学徒制",
        "和",
        "课程思政",
        "建设",
        "专业群",
    ]


def test_whoosh_analyzer() -> None:
    ana = analyzer()
    got = [
        (t.text, t.pos, t.startchar, t.endchar)
        for t in ana("订单班名单", positions=True, chars=True)
    ]
    assert got == [("订单班", 0, 0, 3), ("订单", 0, 0, 2), ("单班", 0, 1, 3), ("名单", 1, 3, 5)]
    query = [t.text for t in ana("订单班名单", mode="query")]
    assert query == ["订单班", "名单"]


# -- rjieba agrees with jieba -----------------------------------------------------------


def _corpus_texts(shared_dir: Path, corpus_dir: Path) -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((shared_dir / "seeds").glob("*.txt"))]
    for name, encoding in [
        ("derived__fzu_撰写规范_p1-3_scanlike.groundtruth.txt", "utf-8"),
        ("chardet-GB2312___ude_1.txt", "gb18030"),
        ("chardet-Big5___ude_1.txt", "big5"),
        ("chardet-GB2312__cnblog.org.xml", "gb18030"),
    ]:
        path = corpus_dir / name
        if path.exists():
            texts.append(path.read_bytes().decode(encoding))
    return texts


@pytest.fixture(scope="module")
def python_jieba():
    """jieba (Python) with the same user words and frequencies as our rjieba."""
    import jieba

    from indexer._tokenize import user_words

    jieba.setLogLevel(60)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    for word, freq in user_words().items():
        tokenizer.add_word(word, freq)
    return tokenizer


def test_rjieba_agrees_with_jieba(shared_dir: Path, corpus_dir: Path, python_jieba: object) -> None:
    """Same tokens on every Han span of the seeds and the real corpus's text files."""
    spans = [s for text in _corpus_texts(shared_dir, corpus_dir) for s in han_spans(text)]
    assert len(spans) > 4000
    cut_diff = [s for s in spans if segment(s) != python_jieba.lcut(s)]  # type: ignore[attr-defined]
    search_diff = [
        s
        for s in spans
        if segment(s, search=True) != python_jieba.lcut_for_search(s)  # type: ignore[attr-defined]
    ]
    assert (cut_diff, search_diff) == ([], [])


def test_line_wraps_in_a_pdf_text_layer(corpus_dir: Path) -> None:
    """pdftotext output of the FZU rules breaks lines mid-word (学习科\\n学研究)."""
    path = corpus_dir / "derived__fzu_撰写规范_p1-3_scanlike.groundtruth.txt"
    if not path.exists():
        pytest.skip(f"corpus file missing: {path.name}")
    text = path.read_text(encoding="utf-8")
    words = [t.text for t in tokenize(text, search=False)]
    assert text.count("学习科\n学研究") == 1
    assert "科学研究" in words
    assert all("\n" not in w for w in words)
