"""Time case search and the filtered case list on 100,000 synthetic cases.

    .venv/bin/python benchmarks/bench_case_search.py            # both databases
    .venv/bin/python benchmarks/bench_case_search.py --kinds    # plus each kind
    .venv/bin/python benchmarks/bench_case_search.py --cases 20000
    .venv/bin/python benchmarks/bench_case_search.py --count-limit 0   # exact

The script builds random cases with aliases, places, ages and dates, and
their search tokens, once. It loads them into a migrated SQLite file in a
temporary folder, then into a PostgreSQL database that it creates
(tuanyuan_bench) and drops at the end. PostgreSQL is skipped with a note when
the server cannot be reached.

For each database it times services.search.search_cases (page 1 or 5 and the
total) over varied queries and takes the 95th percentile. The reference for
text search is a plain LIKE '%word%' over name, aliases, place, case number
and ID number with the same filters. It finds no pinyin, so it is a measure
of cost, not of results. The reference for the filtered list is the same
search after the case table's indexes other than its primary key are
dropped. Each figure is printed as one line:
"bench: NAME VALUE UNIT reference: REFNAME VALUE UNIT". With --kinds, lines
that start with "kind:" add each query kind and similar_cases.
"""

import argparse
import io
import os
import random
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg2  # noqa: E402
from peewee import fn  # noqa: E402
from playhouse.shortcuts import model_to_dict  # noqa: E402
from psycopg2 import sql  # noqa: E402

from commands import run_migrations  # noqa: E402
from db.accounts import Station, User  # noqa: E402
from db.base import database, is_postgres, open_database  # noqa: E402
from db.cases import PLACEMENT_KINDS, Case, CaseAlias  # noqa: E402
from db.search import SearchToken  # noqa: E402
from services import search  # noqa: E402

POSTGRES_SERVER = os.environ.get(
    "BENCH_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432"
)
POSTGRES_DATABASE = "tuanyuan_bench"
CASES = 100_000
QUERIES = 240

DISTRICTS = ["越秀", "海珠", "荔湾", "天河", "白云", "黄埔", "番禺", "花都", "南沙"]
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
    "于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江"
    "尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤单区仇"
)
GIVEN_NAME_CHARACTERS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华建国志红玉梅海"
    "荣生林小春德辉鹏飞斌宇浩凯健俊帆帅旭宁燕玲丹萍婷雪琳晨阳佳欣怡嘉豪子涵"
    "欢云福贵金山水成龙义庆祥瑞喜堃喆"
)
ROADS = [
    "环市西路",
    "中山五路",
    "北京路",
    "解放北路",
    "东风中路",
    "江南大道",
    "工业大道",
    "广州大道",
    "黄埔大道",
    "天河路",
    "体育西路",
    "机场路",
    "白云大道",
    "广园中路",
    "人民北路",
    "沿江西路",
    "滨江东路",
    "新港西路",
    "番禺大道",
    "迎宾路",
    "花城大道",
    "珠江新城",
    "客村立交",
    "宝岗大道",
]
LANDMARKS = [
    "广州火车站",
    "广州南站",
    "广州东站",
    "省汽车客运站",
    "天河客运站",
    "白云机场",
    "流花湖公园",
    "越秀公园",
    "海珠广场",
    "芳村码头",
    "农讲所地铁站",
    "市第一人民医院",
]
SPOTS = ["", "附近", "天桥下", "公交站", "地铁站口", "路口", "隧道口", "桥底", "广场"]
STATUSES = list(Case.STATUSES)
STATUS_WEIGHTS = [20, 15, 5, 3, 35, 10, 10, 2]
PLACEMENTS = list(PLACEMENT_KINDS)
PLACEMENT_WEIGHTS = [70, 10, 10, 3, 7]
FIRST_DAY = datetime(2019, 1, 1)
DAYS = 8 * 365


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases", type=int, default=CASES, help="number of cases to build"
    )
    parser.add_argument(
        "--kinds", action="store_true", help="also print p50 and max of each kind"
    )
    parser.add_argument(
        "--proposed-indexes",
        action="store_true",
        help="measure with the index changes that docs/search.md proposes",
    )
    parser.add_argument(
        "--count-limit",
        type=int,
        default=search.COUNT_LIMIT,
        help="count the rows of a list without text up to this number, 0 for all",
    )
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres", "both"],
        default="both",
        help="the databases to measure",
    )
    arguments = parser.parse_args()
    # 0 counts every row: no list has 10**15 of them.
    search.COUNT_LIMIT = arguments.count_limit or 10**15

    started = time.perf_counter()
    data = build_data(arguments.cases, random.Random(20260315))
    progress(f"built {arguments.cases} cases and {len(data['tokens'])} tokens", started)

    if arguments.database in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as folder:
            open_database(sqlite_path=Path(folder) / "bench.sqlite3")
            measure("sqlite", data, arguments)
            database.close()
    if arguments.database in ("postgres", "both"):
        measure_postgres(data, arguments)


def measure_postgres(data, arguments):
    server = connect_server()
    if server is None:
        return
    try:
        create_database(server)
        open_database(url=f"{POSTGRES_SERVER}/{POSTGRES_DATABASE}")
        measure("postgres", data, arguments)
    finally:
        # DROP DATABASE fails while a connection to it is open.
        database.close()
        drop_database(server)
        server.close()


def progress(message, started):
    print(f"{message} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


# Synthetic data.


def build_data(count, rng):
    """Return rows for stations, users, cases, aliases and search tokens."""
    stations = [(1, "广州市救助管理站", "穗", Station.CITY, None)] + [
        (n + 2, f"{d}区救助管理分站", d, Station.DISTRICT, 1)
        for n, d in enumerate(DISTRICTS)
    ]
    users = [
        (station_id, f"staff{station_id}", User.STAFF, station_id)
        for station_id, *_ in stations
    ]
    users.append((len(stations) + 1, "coordinator", User.COORDINATOR, 1))

    # Ids follow the time a case was found, as they follow registration in
    # the app, so that reading by created_at reads the table roughly in order.
    found_times = sorted(
        FIRST_DAY + timedelta(minutes=rng.randrange(DAYS * 24 * 60))
        for _ in range(count)
    )
    cases, aliases, tokens = [], [], []
    serials = {}
    for case_id, found_at in enumerate(found_times, start=1):
        case = random_case(case_id, found_at, rng, stations, serials)
        names = random_aliases(case, rng)
        aliases.extend((case_id, name, kind) for name, kind in names)
        cases.append(case)
        if case["merged_into"] is None:
            indexed = search.case_tokens(Case(**case), [name for name, _ in names])
            tokens.extend((case_id, t, w) for t, w in indexed.items())
    return {
        "stations": stations,
        "users": users,
        "cases": cases,
        "aliases": aliases,
        "tokens": tokens,
    }


def random_case(case_id, found_at, rng, stations, serials):
    station_id, _, short_name, _, _ = rng.choice(stations)
    year = found_at.year
    serials[station_id, year] = serials.get((station_id, year), 0) + 1
    created_at = found_at + timedelta(minutes=rng.randint(10, 600))
    age_min = rng.randint(5, 85)
    ages = rng.choices(
        [(age_min, age_min + rng.randint(0, 10)), (age_min, None), (None, None)],
        [85, 5, 10],
    )[0]
    return {
        "id": case_id,
        "case_number": f"{short_name}-{year}-{serials[station_id, year]:04d}",
        "station": station_id,
        "name": random_name(rng) if rng.random() > 0.08 else "",
        "sex": rng.choice(["male", "male", "female", "unknown"]),
        "age_min": ages[0],
        "age_max": ages[1],
        "found_at": found_at,
        "found_place": random_place(rng),
        "id_number": random_id_number(rng) if rng.random() < 0.3 else None,
        "placement": rng.choices(PLACEMENTS, PLACEMENT_WEIGHTS)[0],
        "status": rng.choices(STATUSES, STATUS_WEIGHTS)[0],
        # About 1% merged into an earlier case, which search must leave out.
        "merged_into": rng.randrange(1, case_id)
        if case_id > 1 and rng.random() < 0.01
        else None,
        "created_by": station_id,
        "created_at": created_at,
        "updated_at": created_at,
    }


def random_name(rng):
    return rng.choice(SURNAMES) + "".join(
        rng.choices(GIVEN_NAME_CHARACTERS, k=rng.choice([1, 2, 2]))
    )


def random_aliases(case, rng):
    if rng.random() > 0.15:
        return []
    given_name = case["name"][1:] or rng.choice(GIVEN_NAME_CHARACTERS)
    return [
        rng.choice(
            [
                ("阿" + given_name[-1], "nickname"),
                ("小" + (case["name"][:1] or rng.choice(SURNAMES)), "nickname"),
                (random_name(rng), "alias"),
            ]
        )
    ]


def random_place(rng):
    if rng.random() < 0.25:
        place = rng.choice(LANDMARKS) + rng.choice(SPOTS)
    else:
        place = f"{rng.choice(DISTRICTS)}区{rng.choice(ROADS)}{rng.choice(SPOTS)}"
    return ("广州市" if rng.random() < 0.2 else "") + place


def random_id_number(rng):
    region = f"{rng.choice([44, 43, 45, 36, 51, 41]):02d}{rng.randint(0, 9999):04d}"
    birth = date(1940, 1, 1) + timedelta(days=rng.randrange(70 * 365))
    check = rng.choice("0123456789X")
    return f"{region}{birth:%Y%m%d}{rng.randint(0, 999):03d}{check}"


# Loading.


def load(data):
    """Apply the migrations, then bulk insert the rows, one table at a time."""
    run_migrations()
    with database.atomic():
        Station.insert_many(
            data["stations"],
            fields=[
                Station.id,
                Station.name,
                Station.short_name,
                Station.kind,
                Station.parent,
            ],
        ).execute()
        User.insert_many(
            [(*user, user[1], "not-a-hash") for user in data["users"]],
            fields=[
                User.id,
                User.username,
                User.role,
                User.station,
                User.full_name,
                User.password_hash,
            ],
        ).execute()
    case_fields = Case._meta.sorted_fields
    case_rows = []
    for case in data["cases"]:
        # The model fills in the defaults of the fields left out.
        values = model_to_dict(Case(**case), recurse=False)
        case_rows.append(tuple(f.db_value(values[f.name]) for f in case_fields))
    alias_fields = [CaseAlias.case, CaseAlias.name, CaseAlias.kind]
    token_fields = [
        SearchToken.kind,
        SearchToken.object_id,
        SearchToken.token,
        SearchToken.weight,
    ]
    token_rows = [(SearchToken.CASE, *row) for row in data["tokens"]]
    for model, fields, rows in (
        (Case, case_fields, case_rows),
        (CaseAlias, alias_fields, data["aliases"]),
        (SearchToken, token_fields, token_rows),
    ):
        with indexes_dropped(model):
            bulk_insert(model, fields, rows)
    if is_postgres():
        # The rows above set their ids, so move the sequences past them.
        for model in (Station, User, Case):
            last_id = model.select(fn.MAX(model.id)).scalar()
            database.execute_sql(
                "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
                (f'"{model._meta.table_name}"', last_id),
            )
        # Autovacuum (PostgreSQL 13 and later) also vacuums and analyzes a
        # table after many inserts, which sets the visibility map that
        # index-only scans need. Do it now rather than wait for it.
        database.execute_sql("VACUUM ANALYZE")


def apply_proposed_indexes():
    """Replace two indexes of the migrations with those docs/search.md
    proposes: a partial index on merged_into, which SQLite no longer takes
    for "merged_into IS NULL", and a token index that includes the weight."""
    proposed = [
        Case.index(Case.merged_into, where=Case.merged_into.is_null(False)),
        SearchToken.index(
            SearchToken.token,
            SearchToken.kind,
            SearchToken.object_id,
            SearchToken.weight,
        ),
    ]
    replaced = [["merged_into_id"], ["token", "kind", "object_id"]]
    for model in (Case, SearchToken):
        drop_indexes(
            index for index in secondary_indexes(model) if index.columns in replaced
        )
    for index in proposed:
        database.execute(index)
    if is_postgres():
        database.execute_sql("VACUUM ANALYZE")


def secondary_indexes(model):
    """Return the indexes of `model`'s table other than its primary key."""
    return [
        index
        for index in database.get_indexes(model._meta.table_name)
        if index.sql and not index.name.endswith("pkey")
    ]


def drop_indexes(indexes):
    for index in indexes:
        database.execute_sql(f'DROP INDEX "{index.name}"')


@contextmanager
def indexes_dropped(model):
    """Drop the table's indexes, then create them again from the SQL that the
    migrations left, because one index build is faster than many updates."""
    indexes = secondary_indexes(model)
    drop_indexes(indexes)
    yield
    for index in indexes:
        database.execute_sql(index.sql)


def bulk_insert(model, fields, rows):
    """Insert `rows`, tuples in the order of `fields`, in one transaction.

    It calls the driver directly: peewee 4.5 took about 50 µs a row to build
    insert_many queries, which was most of the load time. SQLite gets
    executemany and PostgreSQL gets COPY.
    """
    with database.atomic():
        cursor = database.cursor()
        if is_postgres():
            copy_rows(cursor, model, fields, rows)
        else:
            statement, _ = model.insert_many(rows[:1], fields=fields).sql()
            cursor.executemany(statement, rows)


def copy_rows(cursor, model, fields, rows):
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(map(copy_text, row)))
        buffer.write("\n")
    buffer.seek(0)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.table_name),
        sql.SQL(", ").join(sql.Identifier(field.column_name) for field in fields),
    )
    cursor.copy_expert(statement.as_string(cursor), buffer)


def copy_text(value):
    """Return `value` in the text format of COPY, with \\N for NULL."""
    if value is None:
        return "\\N"
    text = str(value)
    for special, escaped in (
        ("\\", "\\\\"),
        ("\t", "\\t"),
        ("\n", "\\n"),
        ("\r", "\\r"),
    ):
        text = text.replace(special, escaped)
    return text


# Queries.


def measure(label, data, arguments):
    started = time.perf_counter()
    load(data)
    if arguments.proposed_indexes:
        apply_proposed_indexes()
        label += "_proposed_indexes"
    progress(f"{label}: loaded", started)
    rng = random.Random(7)
    users = {
        "coordinator": User.get(User.username == "coordinator"),
        "staff": User.get(User.username == "staff2"),
    }
    text_queries = make_text_queries(data, rng, users)
    list_queries = make_list_queries(rng, users)
    for query in text_queries[:20] + list_queries[:20]:
        run_search(query)

    text_times = time_queries(run_search, text_queries)
    like_times = time_queries(run_like_scan, text_queries)
    list_times = time_queries(run_search, list_queries)
    similar_queries = make_similar_queries(data, rng)
    similar_times = time_queries(run_similar, similar_queries)
    # Last, because it changes the database.
    drop_indexes(secondary_indexes(Case))
    unindexed_times = time_queries(run_search, list_queries)
    progress(f"{label}: measured", started)

    print(
        f"bench: case_search_p95_{label} {p95(text_times):.1f} ms "
        f"reference: like_scan_p95_{label} {p95(like_times):.1f} ms"
    )
    print(
        f"bench: case_filtered_list_p95_{label} {p95(list_times):.1f} ms "
        f"reference: unindexed_list_p95_{label} {p95(unindexed_times):.1f} ms"
    )
    if arguments.kinds:
        print_kinds(
            label,
            text_queries + list_queries + similar_queries,
            text_times + list_times + similar_times,
        )


def make_text_queries(data, rng, users):
    """Return QUERIES text queries of varied kinds, from the built cases."""
    named = [c for c in data["cases"] if c["name"]]
    with_id = [c for c in data["cases"] if c["id_number"]]
    kinds = {
        "name": lambda c: c["name"],
        "pinyin": lambda c: " ".join(search.name_readings(c["name"])[0]),
        "initials": lambda c: "".join(s[0] for s in search.name_readings(c["name"])[0]),
        "fuzzy": lambda c: search.fuzzy_pinyin(search.name_readings(c["name"])[0]),
        "surname_given": lambda c: f"{c['name'][0]} {c['name'][-1]}",
        "id_tail": lambda c: c["id_number"][-4:],
        "case_number": lambda c: c["case_number"].split("-", 1)[1],
        "place": lambda c: place_fragment(c["found_place"], rng),
        "name_place": lambda c: f"{c['name']} {place_fragment(c['found_place'], rng)}",
    }
    queries = []
    for number in range(QUERIES):
        kind = list(kinds)[number % len(kinds)]
        case = rng.choice(with_id if kind == "id_tail" else named)
        filters = random_filters(rng) if number % 4 == 0 else {}
        queries.append(
            {
                "kind": kind + ("+filters" if filters else ""),
                "user": users[rng.choice(["coordinator", "staff"])],
                "text": kinds[kind](case),
                "filters": filters,
                "page": 1,
            }
        )
    return queries


def place_fragment(place, rng):
    start = rng.randrange(max(len(place) - 3, 1))
    return place[start : start + rng.choice([2, 3, 4])]


def make_list_queries(rng, users):
    queries = []
    for number in range(QUERIES):
        filters = random_filters(rng) if number % 6 else {}
        queries.append(
            {
                "kind": f"list_{len(filters)}_filters",
                "user": users[rng.choice(["coordinator", "staff"])],
                "text": "",
                "filters": filters,
                "page": 5 if number % 10 == 0 else 1,
            }
        )
    return queries


def random_filters(rng):
    """Return one to three filters, as the case list form would send them."""
    found_from = date(2019, 1, 1) + timedelta(days=rng.randrange(DAYS))
    options = {
        "station_id": lambda: rng.randint(2, len(DISTRICTS) + 1),
        "status": lambda: rng.choice(STATUSES),
        "sex": lambda: rng.choice(["male", "female"]),
        "age_from": lambda: rng.randint(10, 60),
        "age_to": lambda: rng.randint(30, 90),
        "found_from": lambda: found_from,
        "found_to": lambda: found_from + timedelta(days=rng.choice([7, 30, 365])),
        "placement": lambda: rng.choice(PLACEMENTS),
    }
    chosen = rng.sample(list(options), rng.randint(1, 3))
    return {name: options[name]() for name in chosen}


def make_similar_queries(data, rng):
    """Return repeat-visitor checks: a built name with an age range."""
    named = [c for c in data["cases"] if c["name"] and c["age_min"]]
    queries = []
    for case in rng.sample(named, QUERIES // 2):
        age = case["age_min"] + rng.randint(-3, 3)
        queries.append({"kind": "similar_cases", "name": case["name"], "age": age})
    return queries


def run_similar(query):
    age = query["age"]
    return len(search.similar_cases(query["name"], age - 5, age + 5))


def run_search(query):
    page = search.search_cases(
        query["user"], query["text"], page=query["page"], **query["filters"]
    )
    return len(page.items), page.total


def run_like_scan(query):
    """Search the way a plain implementation would: LIKE on each column."""
    cases = search.filter_cases(Case.visible_to(query["user"]), **query["filters"])
    for word in query["text"].split():
        pattern = f"%{word}%"
        in_alias = CaseAlias.select(CaseAlias.case).where(CaseAlias.name**pattern)
        cases = cases.where(
            (Case.name**pattern)
            | (Case.found_place**pattern)
            | (Case.case_number**pattern)
            | (Case.id_number**pattern)
            | Case.id.in_(in_alias)
        )
    cases = cases.order_by(Case.created_at.desc(), Case.id.desc())
    items = list(cases.paginate(query["page"], 20))
    return len(items), cases.count()


def time_queries(function, queries):
    """Return the milliseconds of each query."""
    times = []
    for query in queries:
        start = time.perf_counter()
        function(query)
        times.append((time.perf_counter() - start) * 1000)
    return times


def p95(times):
    return statistics.quantiles(times, n=20)[-1]


def print_kinds(label, queries, times):
    by_kind = {}
    for query, ms in zip(queries, times, strict=True):
        by_kind.setdefault(query["kind"], []).append(ms)
    for kind, values in sorted(by_kind.items()):
        values.sort()
        print(
            f"kind: {label} {kind} n={len(values)} "
            f"p50 {statistics.median(values):.1f} ms max {values[-1]:.1f} ms"
        )


# PostgreSQL server.


def connect_server():
    try:
        server = psycopg2.connect(f"{POSTGRES_SERVER}/postgres", connect_timeout=5)
    except psycopg2.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        print(
            f"note: PostgreSQL at {POSTGRES_SERVER} is unreachable ({reason}), skipped"
        )
        return None
    server.autocommit = True
    return server


def create_database(server):
    drop_database(server)
    with server.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE DATABASE {}").format(sql.Identifier(POSTGRES_DATABASE))
        )


def drop_database(server):
    with server.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {}").format(
                sql.Identifier(POSTGRES_DATABASE)
            )
        )


if __name__ == "__main__":
    main()
