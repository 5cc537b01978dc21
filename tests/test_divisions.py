import time

import pytest

from services import divisions


def codes(matches):
    return [match.division.code for match in matches]


def first(text):
    matches = divisions.match_place(text)
    assert matches, f"no match for {text!r}"
    return matches[0]


def test_lookup_current_city():
    division = divisions.lookup("420600")

    assert division.name == "襄阳市"
    assert division.level == "city"
    assert division.full_name == "湖北省襄阳市"
    assert division.current is True
    assert division.parent_codes == ("420000",)
    assert "襄樊市" in division.former_names


def test_lookup_township():
    division = divisions.lookup("441900003")

    assert division.name == "东城街道"
    assert division.level == "township"
    assert division.full_name == "广东省东莞市东城街道"
    assert division.parent_codes == ("440000", "441900")


def test_lookup_district_of_municipality():
    division = divisions.lookup("110101")

    assert division.full_name == "北京市东城区"
    assert division.parent_codes == ("110000",)
    assert "崇文区" in division.former_names


def test_lookup_abolished_county():
    division = divisions.lookup("440126")

    assert division.name == "番禺县"
    assert division.level == "county"
    assert division.current is False
    assert division.full_name == "广东省广州市番禺县"
    assert division.last_year == 1991


def test_lookup_abolished_district_parent_name():
    # 樊东区 was abolished in 1995, when 襄阳市 was still called 襄樊市.
    division = divisions.lookup("420603")

    assert division.full_name == "湖北省襄樊市樊东区"
    assert division.current is False


def test_lookup_abolished_city():
    division = divisions.lookup("371200")

    assert division.full_name == "山东省莱芜市"
    assert division.level == "city"
    assert division.current is False


def test_lookup_taiwan():
    division = divisions.lookup("830000")

    assert division.name == "台湾省"
    assert division.current is True


@pytest.mark.parametrize("code", ["", None, "999999", "4206", "420600000000"])
def test_lookup_unknown_returns_none(code):
    assert divisions.lookup(code) is None


@pytest.mark.parametrize(
    "text, code, kind",
    [
        ("襄阳", "420600", "exact"),
        ("襄阳市", "420600", "exact"),
        ("恩施", "422800", "exact"),
        ("新疆", "650000", "exact"),
        ("广西", "450000", "exact"),
        ("积石山", "622927", "exact"),
        ("南昌县", "360121", "exact"),
        ("襄樊", "420600", "former"),
        ("襄樊市", "420600", "former"),
        ("番禺县", "440113", "former"),
        ("莱芜市", "370116", "former"),
        ("崇文区", "110101", "former"),
        ("闸北区", "310106", "former"),
        ("大庸", "430800", "former"),
        ("乌鲁", "650100", "partial"),
    ],
)
def test_match_place_best(text, code, kind):
    match = first(text)

    assert match.division.code == code
    assert match.kind == kind


def test_former_name_reported():
    match = first("他说老家是襄樊的")

    assert match.division.full_name == "湖北省襄阳市"
    assert match.matched_name == "襄樊"


@pytest.mark.parametrize(
    "text",
    [
        "Xiangyang",
        "xiangyang",
        "XIANGYANG",
        "xiang yang",
        "xiāng yáng",
        "xiang1 yang2",
        "Ｘｉａｎｇｙａｎｇ",
    ],
)
def test_pinyin_finds_city_and_townships(text):
    matches = divisions.match_place(text)

    assert matches[0].division.code == "420600"
    assert matches[0].kind == "homophone"
    townships = [m for m in matches if m.division.level == "township"]
    assert townships
    assert all(m.division.name.startswith("向阳") for m in townships)


def test_homophone_characters_find_city():
    matches = divisions.match_place("向阳")

    assert "420600" in codes(matches)
    assert any(m.division.name == "向阳镇" for m in matches)
    assert matches[0].division.name == "向阳区"


def test_village_name_finds_townships_of_that_name():
    # Villages are not in the table, so 向阳村 can only lead to places named 向阳.
    matches = divisions.match_place("向阳村")

    assert any(m.division.level == "township" for m in matches)
    assert "420600" in codes(matches)


@pytest.mark.parametrize(
    "typed, code",
    [
        ("nanchang", "360100"),
        ("lanchang", "360100"),  # n/l, ch/c
        ("guangzou", "440100"),  # zh/z
        ("senzen", "440300"),  # sh/s, zh/z
        ("cangsa", "430100"),  # ch/c, sh/s
        ("lanjin", "320100"),  # n/l, ing/in
        ("cendu", "510100"),  # ch/c, eng/en
        ("hujian", "350000"),  # f/h
        ("senyan", "210100"),  # sh/s, ang/an
    ],
)
def test_fuzzy_pinyin_of_southern_accents(typed, code):
    assert first(typed).division.code == code


def test_exact_pinyin_beats_fuzzy():
    assert first("nanchang").score > first("lanchang").score


def test_province_in_text_lifts_city():
    match = first("湖北襄阳")

    assert match.division.code == "420600"
    assert match.score > first("襄阳").score


def test_sentence_gives_each_level_once():
    matches = divisions.match_place("他说家在湖北省襄阳市樊城区那边")

    assert codes(matches)[:3] == ["420606", "420600", "420000"]
    # The 城区 inside 樊城区 is not 城区 of another city.
    assert not any(m.division.name == "城区" for m in matches)


def test_pinyin_with_province():
    matches = divisions.match_place("hubei xiangyang")

    assert codes(matches)[:2] == ["420600", "420000"]


def test_one_match_per_division():
    matches = divisions.match_place("襄阳 xiangyang 向阳", limit=50)

    assert len(codes(matches)) == len(set(codes(matches)))


def test_scores_descend():
    scores = [m.score for m in divisions.match_place("xiang yang", limit=30)]

    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("text", ["", "   ", "？！", "hello world", None])
def test_nothing_to_match(text):
    assert divisions.match_place(text) == []


def test_limit():
    assert len(divisions.match_place("向阳", limit=3)) == 3
    assert divisions.match_place("向阳", limit=0) == []


def test_match_is_fast():
    divisions.match_place("襄阳")  # builds the indexes
    texts = [
        "湖北襄阳",
        "xiang yang",
        "lanchang",
        "他说家在湖北省襄阳市樊城区那边，口音像四川人，说小时候住在向阳村",
        "ta shuo jia zai hubei sheng xiangyang shi fancheng qu",
    ]
    for text in texts:
        started = time.perf_counter()
        divisions.match_place(text)
        elapsed = time.perf_counter() - started
        assert elapsed < 0.05, (text, elapsed)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("四川口音", ["四川省", "重庆市"]),
        ("湘语", ["湖南省"]),
        ("粤语", ["广东省", "广西壮族自治区"]),
        ("说白话", ["广东省", "广西壮族自治区"]),
        ("闽南话", ["福建省"]),
        ("客家话", ["广东省", "江西省", "福建省"]),
        ("东北话", ["黑龙江省", "吉林省", "辽宁省"]),
        ("河南话", ["河南省"]),
        ("陕西话", ["陕西省"]),
        ("温州话", ["浙江省"]),
        ("潮汕话", ["广东省"]),
        ("内蒙口音", ["内蒙古自治区"]),
    ],
)
def test_provinces_for_accent(text, expected):
    provinces = divisions.provinces_for_accent(text)

    assert provinces[: len(expected)] == expected


def test_accent_of_two_provinces_keeps_order_of_mention():
    assert divisions.provinces_for_accent("口音像河南或山东") == ["河南省", "山东省"]


def test_accent_returns_table_names():
    province_names = {
        divisions.lookup(code).name for code in ("440000", "450000", "810000")
    }

    assert province_names <= set(divisions.provinces_for_accent("粤语"))


@pytest.mark.parametrize("text", ["", "普通话", "听不出口音", None])
def test_accent_without_clue(text):
    assert divisions.provinces_for_accent(text) == []
