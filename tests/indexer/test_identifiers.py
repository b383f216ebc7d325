"""Identifiers in a query (document numbers 文号, dates, numbers with a unit, codes of letters
and digits) are found as written: a document holding the whole identifier ranks above every
document holding only its parts (2021 on one page, 758 on another, 号 everywhere). Every test
runs on every backend (the ``backend`` fixture; PostgreSQL skips without
EVIDENCE_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from indexer import (
    IndexDoc,
    IndexerError,
    Page,
    SearchBackend,
    SearchQuery,
    extract_pages,
    normalize_text,
    parse_query,
)
from tests.conftest import corpus_file


def ids(backend: SearchBackend, text: str) -> list[int]:
    return [h.doc_id for h in backend.search(SearchQuery(text, limit=50)).hits]


#: The document holding the number, and one holding its parts more often, in other places.
EXACT = IndexDoc(
    1,
    "关于公布教学成果奖的通知",
    [
        Page(1, "各二级学院：现将有关事项通知如下。"),
        Page(2, "根据《教学成果奖励办法》（粤工程职院证〔2021〕758号），GB/T 7714-2015 格式。"),
        Page(3, "会议于2021年3月5日召开，第12期简报同日印发。"),
    ],
)
SCATTERED = IndexDoc(
    2,
    "2021年粤港工程职院证书发放汇总",
    [
        Page(
            n,
            "粤港澳大湾区工程建设，职院证书发放2021名学生，758个实训号位，编号758，"
            "2021级学生3月入学，5日报到，GB 2015 标准，T 7714 型号，第12号楼，12个期次。",
        )
        for n in range(1, 6)
    ],
)

QUERIES = [
    "粤工程职院证〔2021〕758号",  # as written
    "粤工程职院证[2021]758号",  # other brackets
    "粤工程职院证(2021)758号",
    "粤工程职院证【2021】758号",
    "粤工程职院证（2021）758号",
    "〔2021〕758号",  # without the issuer
    "[2021] 758号",
    "2021 〔2021〕758号",
    "758号",  # a number with its unit
    "2021年3月5日",  # a date
    "GB/T 7714-2015",  # a standard's number
    "第12期",
    "职院证〔2021〕758号 通知",  # with other words
]


@pytest.mark.parametrize("query", QUERIES)
def test_whole_identifier_ranks_above_its_scattered_parts(
    backend: SearchBackend, query: str
) -> None:
    backend.add([SCATTERED, EXACT])
    assert ids(backend, query)[:1] == [1]


def test_without_the_identifier_the_parts_rank_as_before(backend: SearchBackend) -> None:
    """Words without an identifier rank by their own scores: the document with more of
    them (and them in its title) comes first."""
    backend.add([SCATTERED, EXACT])
    assert ids(backend, "工程 职院 证书 2021") == [2]
    assert ids(backend, "学生 2021") == [2]


def test_another_issuers_number_comes_next(backend: SearchBackend) -> None:
    """The bare number matches another issuer's too: both before the parts."""
    other = IndexDoc(3, "通知", [Page(1, "依据粤财科教〔2021〕758号文件执行。")])
    backend.add([SCATTERED, other, EXACT])
    assert ids(backend, "粤工程职院证〔2021〕758号") == [1]
    assert ids(backend, "粤财科教[2021]758号") == [3]
    top = ids(backend, "〔2021〕758号")
    assert (sorted(top[:2]), top[2:]) == ([1, 3], [2])


def test_identifier_across_a_line_wrap_and_jieba_cuts(backend: SearchBackend) -> None:
    """The text's words may be cut otherwise than the query's (号文 in 758号文): its
    characters in a row still count as the identifier written."""
    doc = IndexDoc(
        1, "文件", [Page(1, "依据粤工程职院证〔2021〕758号文执行，按2021年3月5日的\n通知办理。")]
    )
    backend.add([SCATTERED, doc])
    for query in ("粤工程职院证〔2021〕758号", "758号", "2021年3月5日"):
        assert ids(backend, query)[:1] == [1], query


def test_a_number_inside_a_longer_number_is_not_the_identifier(backend: SearchBackend) -> None:
    """58号 is not in 758号: the document writing 58号 ranks first."""
    backend.add(
        [
            IndexDoc(1, "甲", [Page(1, "粤府〔2021〕758号，粤府〔2021〕758号，758号文件。")]),
            IndexDoc(2, "乙", [Page(1, "另见58号文件。")]),
        ]
    )
    assert ids(backend, "58号")[:1] == [2]


def test_quoted_identifier_must_be_whole(backend: SearchBackend) -> None:
    backend.add([SCATTERED, EXACT])
    assert ids(backend, '"粤工程职院证〔2021〕758号"') == [1]
    assert ids(backend, '"[2021]758号"') == [1]


def test_quoted_phrase_ranks_first_in_the_fallback(backend: SearchBackend) -> None:
    """No document has every part: the OR fallback ranks the one holding the phrase first."""
    backend.add([SCATTERED, EXACT])
    result = backend.search(SearchQuery('"教学成果奖励办法" 不存在的词汇 职院 证书 2021'))
    assert result.fallback
    assert [h.doc_id for h in result.hits][:1] == [1]


def test_snippet_marks_the_identifier_on_its_page(backend: SearchBackend) -> None:
    backend.add([SCATTERED, EXACT])
    hit = backend.search(SearchQuery("粤工程职院证[2021]758号")).hits[0]
    assert hit.pages[0] == 2
    assert "<mark>粤工程职院证〔2021〕758号</mark>" in hit.snippets[0].html


def test_dated_and_standard_numbers_are_words_not_evidence_codes(
    backend: SearchBackend,
) -> None:
    """2021.03.05 and 20513.1-2018 look like codes (digits and dots) but have a first part
    of 4 digits: they are searched in the text, not in the code fields."""
    backend.add(
        [
            IndexDoc(1, "记录", [Page(1, "检查日期 2021.03.05，依据 NB/T 20513.1-2018。")]),
            IndexDoc(2, "其他", [Page(1, "检查日期 2021.03.06。")], code="2.3.4-1"),
        ]
    )
    assert ids(backend, "2021.03.05") == [1]
    assert ids(backend, "NB/T 20513.1-2018") == [1]
    assert ids(backend, "2.3.4-1") == [2]  # an evidence code still matches the code fields


def test_parse_query_identifiers() -> None:
    def spans(text: str) -> list[tuple[str, tuple[str, ...]]]:
        return [(s.text, s.tokens) for s in parse_query(text).sequences]

    assert spans("粤工程职院证〔2021〕758号") == [
        ("粤工程职院证〔2021〕758号", ("粤", "工程", "职院证", "2021", "758", "号")),
        ("〔2021〕758号", ("2021", "758", "号")),
    ]
    assert spans("粤府(2021)28号 通知") == [
        ("粤府(2021)28号", ("粤府", "2021", "28", "号")),
        ("(2021)28号", ("2021", "28", "号")),
    ]
    assert spans("2021年3月5日") == [("2021年3月5日", ("2021", "年", "3", "月", "5", "日"))]
    assert spans("2021-03-05") == [("2021-03-05", ("2021", "03", "05"))]
    assert spans("GB/T 7714-2015") == [("gb/t 7714-2015", ("gb", "t", "7714", "2015"))]
    assert spans("GB50016-2014") == [("gb50016-2014", ("gb50016", "2014"))]
    # one token each: matched whole anyway; codes go to the code fields
    assert spans("2021 [2021] abc123 2.3.4-1 产教融合") == []
    seq = parse_query("758号").sequences[0]
    assert (seq.grams, seq.anchors) == (("75", "58", "8号"), ("758",))


# -- real document numbers ----------------------------------------------------------------

#: Real files with document numbers in their text (../shared/corpus/real).
REAL_FILES = [
    "chatchat__行标编制说明（核电厂定期安全审查 第1部分：通用要求）.docx",
    "fzu__20.福州大学本科生毕业设计（论文）撰写规范.pdf",
    "mineru__3list_1table.pdf",
]
_DOC_NUMBER = re.compile(
    r"([\u4e00-\u9fff]{2,6})\s*([〔\[(（【]\s*\d{4}\s*[〕\])）】])\s*(\d{1,4})\s*号"
)
_ANY_BRACKET = r"\s*[〔〕\[\]()（）【】]\s*"


def _holds(norm: str, issuer: str, year: str, number: str, with_issuer: bool) -> bool:
    """Whether normalised text holds the number (any brackets, spaces around them)."""
    head = re.escape(issuer) + r"\s*" if with_issuer else ""
    pattern = rf"{head}{_ANY_BRACKET}{year}{_ANY_BRACKET}{number}\s*号"
    return re.search(pattern, norm) is not None


@pytest.fixture(scope="module")
def real_docs(corpus_dir: Path) -> list[IndexDoc]:
    docs = []
    for i, name in enumerate(REAL_FILES, 1):
        path = corpus_file(corpus_dir, name)
        try:
            pages = list(extract_pages(path, ocr=False))
        except IndexerError as e:
            pytest.skip(f"{name} cannot be read here: {e}")
        docs.append(IndexDoc(i, Path(name).stem, pages))
    return docs


def test_real_document_numbers(backend: SearchBackend, real_docs: list[IndexDoc]) -> None:
    """Each document number of the real files, as written, with other brackets and bare:
    the files holding it come first, before files and a made-up document holding only its
    parts (the year, the number and 号 apart)."""
    found: list[tuple[str, str, str, str]] = []
    texts = {}
    for doc in real_docs:
        texts[doc.doc_id] = norm = normalize_text(
            doc.title + "\n" + "\n".join(p.text for p in doc.pages)
        )
        for m in _DOC_NUMBER.finditer(norm):
            year = re.sub(r"\D", "", m.group(2))
            found.append((m.group(1), m.group(2), year, m.group(3)))
    if not found:
        pytest.skip("no document number found in the real files")
    parts = " ".join(
        f"{issuer[-2:]}有关规定，{year}年，第{number}项，{number}号楼"
        for issuer, _, year, number in found
    )
    decoy = IndexDoc(99, "汇总", [Page(n, parts * 3) for n in range(1, 4)])
    backend.add([*real_docs, decoy])
    for issuer, bracket, year, number in dict.fromkeys(found):
        for query, with_issuer in [
            (f"{issuer}{bracket}{number}号", True),
            (f"{issuer}[{year}]{number}号", True),
            (f"{issuer}（{year}）{number}号", True),
            (f"〔{year}〕{number}号", False),
        ]:
            holders = {d for d, t in texts.items() if _holds(t, issuer, year, number, with_issuer)}
            assert holders, query
            top = ids(backend, query)
            assert set(top[: len(holders)]) == holders, (query, top)
