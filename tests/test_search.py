import itertools
from datetime import date, datetime, timedelta

import pytest

from db.base import database
from db.cases import Case, CaseAlias
from db.reports import MissingReport
from db.search import SearchToken
from services import search

START = datetime(2026, 3, 1, 9, 0)


@pytest.fixture
def context(app, users):
    """Run the test in an app context, with the stations and users created."""
    with app.app_context():
        yield
        database.close()


@pytest.fixture
def add_case(stations, users):
    """Create and index a case. Each call gets a later created_at."""
    serials = itertools.count(1)

    def add(name="", station="yuexiu", aliases=(), case_number=None, **fields):
        serial = next(serials)
        owner = stations[station]
        case = Case.create(
            case_number=case_number or f"{owner.short_name}-2026-{serial:04d}",
            station=owner.id,
            name=name,
            created_by=users["staff"].id,
            created_at=START + timedelta(minutes=serial),
            **fields,
        )
        for alias, kind in aliases:
            CaseAlias.create(case=case, name=alias, kind=kind)
        search.reindex_case(case)
        return case

    return add


@pytest.fixture
def add_report(stations, users):
    serials = itertools.count(1)

    def add(sought_name, reporter_name="报案人", **fields):
        report = MissingReport.create(
            sought_name=sought_name,
            reporter_name=reporter_name,
            station=stations["yuexiu"].id,
            created_by=users["staff"].id,
            created_at=START + timedelta(minutes=next(serials)),
            **fields,
        )
        search.reindex_report(report)
        return report

    return add


def names(page):
    return [case.name for case in page.items]


def find(user, text="", **filters):
    return names(search.search_cases(user, text, **filters))


# Token rules.


@pytest.mark.parametrize(
    ("syllable", "fuzzy"),
    [
        ("zhang", "zan"),
        ("zan", "zan"),
        ("chen", "cen"),
        ("shi", "si"),
        ("niu", "liu"),
        ("fu", "hu"),
        ("ling", "lin"),
        ("lv", "lu"),
        ("nv", "lu"),
        ("xiong", "xiong"),
        ("huang", "huan"),
    ],
)
def test_fuzzy_syllable_merges_southern_sounds(syllable, fuzzy):
    assert search.fuzzy_syllable(syllable) == fuzzy


def test_split_pinyin_lists_every_split():
    assert search.split_pinyin("zhangwei") == (("zhang", "wei"),)
    assert search.split_pinyin("xian") == (("xian",), ("xi", "an"))
    assert search.split_pinyin("zw") == ()
    assert search.split_pinyin("0153") == ()


def test_name_tokens_of_common_name():
    tokens = search.name_tokens("张伟")

    assert tokens["张伟"] == search.PERSON_NAME.written
    assert tokens["zhangwei"] == search.PERSON_NAME.pinyin
    assert tokens["zanwei"] == search.PERSON_NAME.fuzzy
    assert tokens["zw"] == search.PERSON_NAME.initials
    assert tokens["zhang"] == search.PERSON_NAME.syllable
    assert tokens["伟"] == search.PERSON_NAME.character


def test_name_tokens_keep_both_surname_readings():
    tokens = search.name_tokens("曾伟")

    assert "zengwei" in tokens
    assert "cengwei" in tokens


def test_name_without_known_reading_gets_no_whole_pinyin():
    tokens = search.name_tokens("王𪜀")

    assert tokens["王𪜀"] == search.PERSON_NAME.written
    assert tokens["𪜀"] == search.PERSON_NAME.character
    assert "wang" in tokens
    # "wang" must stay a syllable, not the whole name's pinyin.
    assert tokens["wang"] == search.PERSON_NAME.syllable


def test_place_tokens_are_bigrams_and_whole():
    tokens = search.place_tokens("广州 火车站东广场")

    assert tokens["广州火车站东广场"] == search.PLACE_WEIGHT
    assert tokens["火车"] == search.PLACE_BIGRAM_WEIGHT
    assert "站东" in tokens
    assert len(tokens) == 8


def test_id_number_tokens_without_number():
    assert search.id_number_tokens(None) == {}
    assert search.id_number_tokens("") == {}


def test_query_joins_pinyin_words():
    terms = search.query_terms("zhang wei 0153")

    assert len(terms) == 2
    assert "zhangwei" in terms[0].any_of
    assert terms[1].any_of == {"0153"}


# Names, pinyin and aliases.


@pytest.mark.parametrize(
    "query", ["张伟", "zhang wei", "zhangwei", "zw", "ZHANG WEI", "ｚｈａｎｇ ｗｅｉ"]
)
def test_name_found_by_pinyin(context, users, add_case, query):
    add_case("张伟")
    add_case("李娜")

    assert find(users["staff"], query) == ["张伟"]


def test_homophone_ranks_below_exact_name(context, users, add_case):
    add_case("张伟")
    add_case("章玮")

    assert find(users["staff"], "章玮") == ["章玮", "张伟"]
    assert find(users["staff"], "张伟") == ["张伟", "章玮"]


@pytest.mark.parametrize(
    ("name", "query"),
    [
        ("张伟", "zang wei"),
        ("刘强", "niu qiang"),
        ("牛强", "liu qiang"),
        ("胡平", "fu pin"),
        ("沈兰", "sen lang"),
        ("陈明", "cen min"),
        ("吕芳", "lu fang"),
    ],
)
def test_fuzzy_spelling_finds_name(context, users, add_case, name, query):
    add_case(name)
    add_case("王建国")

    assert find(users["staff"], query) == [name]


def test_exact_spelling_ranks_above_fuzzy(context, users, add_case):
    add_case("臧伟")
    add_case("张伟")

    assert find(users["staff"], "zang wei") == ["臧伟", "张伟"]


@pytest.mark.parametrize(("query", "expected"), [("liu", "刘强"), ("niu", "牛强")])
def test_syllable_ranks_exact_then_fuzzy(context, users, add_case, query, expected):
    add_case("刘强")
    add_case("牛强")

    found = find(users["staff"], query)

    assert found[0] == expected
    assert sorted(found) == ["刘强", "牛强"]


@pytest.mark.parametrize(
    "query", ["zeng wei", "ceng wei", "曾伟", "shan tian fang", "dan tian fang"]
)
def test_surname_readings_both_found(context, users, add_case, query):
    add_case("曾伟")
    add_case("单田芳")

    assert len(find(users["staff"], query)) == 1


@pytest.mark.parametrize("query", ["阿国", "a guo", "小王", "老王头", "wang jian guo"])
def test_alias_and_nickname_found(context, users, add_case, query):
    add_case(
        "王建国",
        aliases=[("阿国", "nickname"), ("小王", "alias"), ("老王头", "dialect")],
    )
    add_case("李娜")

    assert find(users["staff"], query) == ["王建国"]


def test_name_ranks_above_alias(context, users, add_case):
    add_case("李四", aliases=[("张伟", "alias")])
    add_case("张伟")

    assert find(users["staff"], "张伟") == ["张伟", "李四"]


def test_name_parts_found_separately(context, users, add_case):
    add_case("买买提·艾力")

    assert find(users["staff"], "艾力") == ["买买提·艾力"]
    assert find(users["staff"], "买买提艾力") == ["买买提·艾力"]
    assert find(users["staff"], "maimaiti") == ["买买提·艾力"]


@pytest.mark.parametrize(
    ("name", "pinyin"),
    [("𠮷", "ji"), ("堃", "kun"), ("喆", "zhe"), ("陈𬌗", None), ("王𠀀𪜀", None)],
)
def test_rare_characters_round_trip_and_found(context, users, add_case, name, pinyin):
    case = add_case(name)
    add_case("李娜")
    database.close()
    database.connect()

    assert Case.get_by_id(case.id).name == name
    assert find(users["staff"], name) == [name]
    if pinyin:
        assert find(users["staff"], pinyin) == [name]


def test_unknown_name_still_found_by_number(context, users, add_case):
    add_case("", case_number="越秀-2026-0042")

    assert find(users["staff"], "0042") == [""]


# Numbers and places.


@pytest.mark.parametrize(
    "query",
    [
        "123X",
        "123x",
        "01123X",
        "44010619800101123X",
        "４４０１０６１９８００１０１１２３Ｘ",
    ],
)
def test_id_number_found_by_tail(context, users, add_case, query):
    add_case("张伟", id_number="44010619800101123X")
    add_case("李娜", id_number=None)

    assert find(users["staff"], query) == ["张伟"]


def test_wrong_id_tail_finds_nothing(context, users, add_case):
    add_case("张伟", id_number="44010619800101123X")

    assert find(users["staff"], "1234") == []


@pytest.mark.parametrize("query", ["越秀-2026-0153", "2026-0153", "0153", "153"])
def test_case_number_found_by_sequence(context, users, add_case, query):
    add_case("张伟", case_number="越秀-2026-0153")
    add_case("李娜", case_number="越秀-2026-0154")

    assert find(users["staff"], query) == ["张伟"]


@pytest.mark.parametrize("query", ["火车站", "东广场", "广州火车站东广场", "火车"])
def test_place_found_by_fragment(context, users, add_case, query):
    add_case("张伟", found_place="广州火车站东广场")
    add_case("李娜", found_place="天河公园")

    assert find(users["staff"], query) == ["张伟"]


@pytest.mark.parametrize("matched_ids", [search.MAX_MATCHED_IDS, 0])
def test_place_fragment_must_be_contiguous(
    context, users, add_case, monkeypatch, matched_ids
):
    monkeypatch.setattr(search, "MAX_MATCHED_IDS", matched_ids)
    add_case("张伟", found_place="广州火车站东广场")

    assert find(users["staff"], "火车东") == []


def test_long_place_found_whole(context, users, add_case):
    place = "广州市越秀区环市西路" * 10
    add_case("张伟", found_place=place)

    assert find(users["staff"], place) == ["张伟"]


@pytest.mark.parametrize("matched_ids", [search.MAX_MATCHED_IDS, 0])
def test_every_word_must_match(context, users, add_case, monkeypatch, matched_ids):
    # With MAX_MATCHED_IDS 0, the ids found first are too many to use, so
    # the HAVING clause alone must keep the matches.
    monkeypatch.setattr(search, "MAX_MATCHED_IDS", matched_ids)
    add_case("张伟", found_place="广州火车站")
    add_case("张伟", found_place="天河公园")
    add_case("李娜", found_place="广州火车站")

    page = search.search_cases(users["staff"], "张伟 火车站")

    assert page.total == 1
    assert page.items[0].found_place == "广州火车站"


# Filters and pages.


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"status": Case.SEARCHING}, ["乙"]),
        ({"status": [Case.SEARCHING, Case.RETURNED]}, ["丙", "乙"]),
        ({"sex": "female"}, ["乙"]),
        ({"placement": "hospital"}, ["丙"]),
        ({"age_from": 35, "age_to": 50}, ["乙", "甲"]),
        ({"age_from": 41}, ["乙"]),
        ({"age_to": 29}, ["丙"]),
        ({"found_from": date(2026, 2, 1)}, ["丙", "乙"]),
        ({"found_to": date(2026, 2, 1)}, ["乙", "甲"]),
        ({"found_from": date(2026, 2, 2), "found_to": date(2026, 2, 2)}, []),
    ],
)
def test_filter_selects_cases(context, users, add_case, filters, expected):
    add_case("甲", sex="male", age_min=30, age_max=40, found_at=datetime(2026, 1, 5))
    add_case(
        "乙",
        sex="female",
        age_min=45,
        status=Case.SEARCHING,
        found_at=datetime(2026, 2, 1, 23, 59),
    )
    add_case(
        "丙",
        age_max=20,
        placement="hospital",
        status=Case.RETURNED,
        found_at=datetime(2026, 2, 3),
    )
    add_case("丁")

    assert find(users["coordinator"], **filters) == expected


def test_filters_apply_to_text_search(context, users, add_case):
    add_case("张伟", status=Case.SEARCHING)
    add_case("张伟", status=Case.RETURNED)

    page = search.search_cases(users["staff"], "zw", status=Case.SEARCHING)

    assert page.total == 1
    assert page.items[0].status == Case.SEARCHING


def test_station_filter(context, users, add_case):
    add_case("甲")
    add_case("乙", station="haizhu")
    haizhu = users["other_staff"].station_id

    assert find(users["coordinator"], station_id=haizhu) == ["乙"]
    assert find(users["staff"], station_id=haizhu) == []


def test_pages_of_newest_first(context, users, add_case):
    for number in range(25):
        add_case(f"张伟{number}")

    first = search.search_cases(users["staff"], per_page=10)
    last = search.search_cases(users["staff"], page=3, per_page=10)
    beyond = search.search_cases(users["staff"], page=4, per_page=10)

    assert names(first) == [f"张伟{n}" for n in range(24, 14, -1)]
    assert first.total == 25
    assert first.pages == 3
    assert first.has_next
    assert names(last) == [f"张伟{n}" for n in range(4, -1, -1)]
    assert not last.has_next
    assert beyond.items == []
    assert beyond.total == 25


def test_list_total_capped(context, users, add_case, monkeypatch):
    monkeypatch.setattr(search, "COUNT_LIMIT", 3)
    for number in range(5):
        add_case(f"张伟{number}")

    first = search.search_cases(users["staff"], per_page=2)
    last = search.search_cases(users["staff"], page=3, per_page=2)

    assert first.total == 3
    assert first.total_is_capped
    assert first.has_next
    assert names(last) == ["张伟0"]
    assert not last.has_next


def test_text_search_total_not_capped(context, users, add_case, monkeypatch):
    monkeypatch.setattr(search, "COUNT_LIMIT", 3)
    for _ in range(5):
        add_case("张伟")

    page = search.search_cases(users["staff"], "张伟", per_page=2)

    assert page.total == 5
    assert not page.total_is_capped
    assert page.pages == 3


def test_found_date_filter_orders_by_found_date(context, users, add_case):
    add_case("晚发现早登记", found_at=datetime(2026, 1, 20))
    add_case("早发现晚登记", found_at=datetime(2026, 1, 2))
    add_case("范围外", found_at=datetime(2025, 12, 1))

    found = find(users["staff"], found_from=date(2026, 1, 1))

    assert found == ["晚发现早登记", "早发现晚登记"]


def test_text_search_pages(context, users, add_case):
    for number in range(7):
        add_case("张伟", found_place=f"火车站{number}号")
    add_case("李娜")

    pages = [
        search.search_cases(users["staff"], "zw", page=n, per_page=3) for n in (1, 2, 3)
    ]

    assert [len(page.items) for page in pages] == [3, 3, 1]
    assert {page.total for page in pages} == {7}
    assert len({case.id for page in pages for case in page.items}) == 7


def test_page_arguments_clamped(context, users, add_case):
    add_case("张伟")

    page = search.search_cases(users["staff"], page=0, per_page=10_000)

    assert page.page == 1
    assert page.per_page == search.MAX_PER_PAGE
    assert names(page) == ["张伟"]


# Visibility by role, station and merging.


def test_other_stations_invisible_to_staff(context, users, add_case):
    add_case("张伟")
    add_case("张伟", station="haizhu")

    assert len(find(users["staff"], "张伟")) == 1
    assert len(find(users["other_staff"], "张伟")) == 1
    assert len(find(users["coordinator"], "张伟")) == 2
    assert find(users["volunteer"], "张伟") == []
    assert find(users["volunteer"]) == []


def test_merged_case_excluded(context, users, add_case):
    target = add_case("张伟")
    source = add_case("章玮", case_number="越秀-2026-0099")
    Case.update(merged_into=target).where(Case.id == source.id).execute()

    # Still indexed: visible_to alone must hide it.
    assert find(users["staff"], "0099") == []
    search.reindex_case(Case.get_by_id(source.id))
    remaining = SearchToken.select().where(SearchToken.object_id == source.id)
    assert remaining.count() == 0
    assert find(users["staff"], "章玮") == ["张伟"]


def test_reindex_replaces_tokens(context, users, add_case):
    case = add_case("张伟")
    Case.update(name="李娜").where(Case.id == case.id).execute()
    search.reindex_case(Case.get_by_id(case.id))

    assert find(users["staff"], "张伟") == []
    assert find(users["staff"], "李娜") == ["李娜"]


def test_remove_deletes_tokens(context, users, add_case):
    case = add_case("张伟")
    search.remove(SearchToken.CASE, case.id)

    assert find(users["staff"], "张伟") == []
    assert find(users["staff"]) == ["张伟"]


def test_rebuild_index(context, users, add_case, add_report):
    add_case("张伟", aliases=[("阿伟", "nickname")])
    add_report("李娜")
    SearchToken.delete().execute()

    assert search.rebuild_index() == (1, 1)
    assert find(users["staff"], "阿伟") == ["张伟"]
    assert [r.sought_name for r in search.search_reports("李娜").items] == ["李娜"]


# Reports.


def sought(page):
    return [report.sought_name for report in page.items]


@pytest.mark.parametrize(
    "query", ["李娜", "li na", "火车站", "张伟", "章玮", "zhang wei 火车站"]
)
def test_report_found(context, add_report, query):
    add_report("李娜", reporter_name="张伟", last_seen_place="广州火车站")
    add_report("王芳", reporter_name="王强", last_seen_place="天河公园")

    assert sought(search.search_reports(query)) == ["李娜"]


def test_report_sought_name_ranks_above_reporter(context, add_report):
    add_report("王芳", reporter_name="李娜")
    add_report("李娜", reporter_name="王强")

    assert sought(search.search_reports("李娜")) == ["李娜", "王芳"]


def test_reports_without_text_newest_first(context, add_report):
    for name in ("甲", "乙", "丙"):
        add_report(name)

    page = search.search_reports(per_page=2)

    assert sought(page) == ["丙", "乙"]
    assert page.total == 3
    assert page.has_next


# Repeat visitors.


def similar_ids(name, age_min, age_max):
    return {case.id for case in search.similar_cases(name, age_min, age_max, limit=10)}


def test_similar_cases_by_sound_and_age(context, add_case):
    expected = {
        add_case("张伟", age_min=30, age_max=40).id,
        add_case("章玮", age_min=36).id,
        add_case("臧伟", age_min=33, age_max=35).id,
        add_case("张伟").id,
        add_case("王五", age_min=35, aliases=[("张伟", "alias")], station="haizhu").id,
    }
    add_case("张伟", age_min=60, age_max=70)
    add_case("李娜", age_min=34, age_max=36)
    add_case("魏", age_min=34, age_max=36)
    add_case("张伟明", age_min=34, age_max=36)

    assert similar_ids("张伟", 33, 38) == expected


def test_similar_cases_open_age_bounds(context, add_case):
    young = add_case("张伟", age_min=30, age_max=40)
    old = add_case("张伟", age_min=60, age_max=70)

    assert similar_ids("张伟", None, None) == {young.id, old.id}
    assert similar_ids("张伟", 65, None) == {old.id}
    assert similar_ids("张伟", None, 35) == {young.id}


def test_similar_cases_rank_exact_name_first(context, add_case):
    add_case("张伟")
    add_case("章玮")

    assert [case.name for case in search.similar_cases("章玮", None, None)] == [
        "章玮",
        "张伟",
    ]


def test_similar_cases_exclude_and_limit(context, add_case):
    first = add_case("张伟")
    for _ in range(6):
        add_case("张伟")
    merged = add_case("张伟")
    Case.update(merged_into=first).where(Case.id == merged.id).execute()

    found = search.similar_cases("张伟", None, None, exclude_id=first.id, limit=10)

    assert len(found) == 6
    assert first.id not in [case.id for case in found]
    assert merged.id not in [case.id for case in found]
    assert len(search.similar_cases("张伟", None, None)) == 5


@pytest.mark.parametrize("name", ["", "  ", "不详", "无名氏"])
def test_similar_cases_of_unknown_name(context, add_case, name):
    add_case("无名氏")
    add_case("")

    assert search.similar_cases(name, None, None) == []
