"""One search box for cases and missing-person reports.

Every case and report gets SearchToken rows: its names as written, their
pinyin (full, initials, syllables and a fuzzy form for southern accents), its
case and ID numbers with their tails, and the character bigrams of its place.
A query is normalised the same way, so each query word becomes a few exact
lookups on the (token, kind, object_id) index. A record must match every
word, and records are ranked by the summed weight of their matching tokens,
then newest first.
"""

import operator
import re
import unicodedata
from dataclasses import astuple, dataclass
from datetime import datetime, time, timedelta
from functools import cache, reduce

import peewee
from peewee import fn
from pypinyin import lazy_pinyin
from pypinyin.contrib.tone_convert import to_normal
from pypinyin.pinyin_dict import pinyin_dict

from db.accounts import Station
from db.base import database, is_postgres
from db.cases import Case, CaseAlias
from db.reports import MissingReport
from db.search import SearchToken

# The length of SearchToken.token. Longer tokens are cut, on both the indexed
# side and the query side, so a long place still matches itself.
TOKEN_MAX_LENGTH = 64
MAX_PER_PAGE = 100
# A case list without search text counts its rows only up to this number,
# so a broad list costs about as much as a narrow one. Counting every row
# put the p95 of the filtered lists in benchmarks/bench_case_search.py
# (100,000 cases, 2 cores) at 55-80 ms on PostgreSQL, against 12-15 ms.
# A text search counts exactly, because it ranks every match anyway.
COUNT_LIMIT = 1000
# Later words of a longer query are ignored, which bounds the SQL it becomes.
MAX_QUERY_WORDS = 8
# A query of several terms, or of a Chinese word of three or more
# characters, first finds the ids of its matches from the token index
# alone. When there are at most this many, only their token rows are read
# for the weights, because reading the weight from the table took most of
# the time of a search. More ids make a long, slow IN list.
MAX_MATCHED_IDS = 2000


@dataclass(frozen=True)
class NameWeights:
    """Token weights for one kind of name: stronger evidence weighs more."""

    written: int
    pinyin: int
    fuzzy: int
    character: int
    initials: int
    syllable: int
    fuzzy_syllable: int

    def halved(self):
        """Weights for one part of a name such as 买买提·艾力."""
        values = [max(weight // 2, 1) for weight in astuple(self)]
        return NameWeights(*values)


PERSON_NAME = NameWeights(12, 8, 5, 3, 3, 2, 1)
ALIAS_NAME = NameWeights(10, 7, 4, 2, 2, 1, 1)
REPORTER_NAME = NameWeights(4, 3, 2, 1, 1, 1, 1)

CASE_NUMBER_WEIGHT = 20
CASE_SEQUENCE_WEIGHT = 15  # "2026-0153"
CASE_SERIAL_WEIGHT = 8  # "0153" and "153"
ID_NUMBER_WEIGHT = 20
ID_TAIL6_WEIGHT = 10
ID_TAIL4_WEIGHT = 6
PLACE_WEIGHT = 6
PLACE_BIGRAM_WEIGHT = 2

# similar_cases counts only whole-name tokens. Syllables and single
# characters weigh less than this in every NameWeights above, so "wei" alone
# does not make 张伟 similar to 魏.
SIMILAR_MIN_WEIGHT = ALIAS_NAME.fuzzy

# Entries that mean the name is unknown. They do not identify anyone, so
# similar_cases returns nothing for them.
UNKNOWN_NAMES = frozenset({"不详", "姓名不详", "无名氏", "无名", "佚名", "未知"})

# CJK Unified Ideographs with Extension A, the compatibility block and the
# supplementary planes (Extension B and later, such as 𠮷).
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_RUN = re.compile(f"[{HAN}]+")
HAN_CHAR = re.compile(f"[{HAN}]")
# A name splits into Han runs and Latin letter runs. Anything else, such as
# digits or the middle dot of 买买提·艾力, takes no part in the pinyin.
NAME_RUN = re.compile(f"[{HAN}]+|[a-z]+")
NAME_SEPARATORS = re.compile(r"[\s·•・‧]+")
QUERY_SEPARATORS = re.compile(r"[\s,，、;；]+")
CASE_NUMBER_TAIL = re.compile(r"(\d{4})-(\d+)$")

# Readings of surnames that differ from the everyday reading that pypinyin
# 0.55 gives, such as 曾 zeng (not ceng) and 单 shan (not dan). A name that
# starts with one of them is indexed under both readings.
SURNAME_READINGS = {
    "曾": "zeng",
    "单": "shan",
    "仇": "qiu",
    "区": "ou",
    "解": "xie",
    "查": "zha",
    "朴": "piao",
    "盖": "ge",
    "乐": "yue",
    "缪": "miao",
    "覃": "qin",
    "种": "chong",
    "召": "shao",
    "繁": "po",
    "员": "yun",
    "黑": "he",
    "折": "she",
    "翟": "zhai",
    "秘": "bi",
    "能": "nai",
    "句": "gou",
    "重": "chong",
    "祭": "zhai",
    "粘": "nian",
    "洗": "xian",
}

# Characters that pypinyin 0.55 has no reading for. 𠮷 is a variant of 吉.
EXTRA_READINGS = {"𠮷": "ji"}
# Marks a character without a known reading.
NO_READING = "?"


def _pinyin_syllables():
    """Return every toneless syllable in pypinyin's dictionary, ü as v."""
    syllables = set()
    for readings in pinyin_dict.values():
        for reading in readings.split(","):
            syllables.add(to_normal(reading))
    # Interjections such as 嗯 (n, ng) and 呣 (m) would split ordinary words.
    return frozenset(
        s for s in syllables if s.isascii() and s not in {"m", "n", "ng", "hm", "hng"}
    )


SYLLABLES = _pinyin_syllables()
MAX_SYLLABLE_LENGTH = max(map(len, SYLLABLES))
# Bounds the work of split_pinyin on long or highly ambiguous letter strings.
MAX_SPLITS = 16
MAX_PINYIN_LENGTH = 60


@dataclass
class Page:
    """One page of results, with the number of all results.

    When `total_is_capped` is set, more than COUNT_LIMIT records match and
    `total` is COUNT_LIMIT, so a page should show it as "1000+".
    """

    items: list
    total: int
    page: int
    per_page: int
    has_next: bool
    total_is_capped: bool = False

    @property
    def pages(self):
        """The number of pages, counted up to COUNT_LIMIT results."""
        return max(1, -(-self.total // self.per_page))


@dataclass(frozen=True)
class Term:
    """One query word: a record matches it with any token of `any_of`, or
    with every token of `all_of` (the bigrams of a longer Chinese word)."""

    any_of: frozenset
    all_of: frozenset = frozenset()


# Token generation: pure functions from values to {token: weight}.


def normalise_text(text):
    """Return `text` NFKC-normalised (full-width letters become ASCII) and
    lower-cased, without surrounding whitespace."""
    return unicodedata.normalize("NFKC", text or "").lower().strip()


def fuzzy_syllable(syllable):
    """Merge the sounds that southern speakers confuse: zh/z, ch/c, sh/s,
    n/l, f/h, an/ang, en/eng, in/ing. ü, typed as v or u, becomes u."""
    merged = syllable.replace("v", "u")
    if merged[:2] in ("zh", "ch", "sh"):
        merged = merged[0] + merged[2:]
    elif merged[:1] == "n":
        merged = "l" + merged[1:]
    elif merged[:1] == "f":
        merged = "h" + merged[1:]
    if merged.endswith(("ang", "eng", "ing")):
        merged = merged[:-1]
    return merged


def fuzzy_pinyin(syllables):
    return "".join(fuzzy_syllable(s) for s in syllables)


@cache
def split_pinyin(word):
    """Return the ways to split the letters `word` into pinyin syllables.

    Longer syllables are tried first, so "xian" gives ("xian",) before
    ("xi", "an"). Returns at most MAX_SPLITS splits, and none for a word that
    is not pinyin.
    """
    if not (word.isascii() and word.isalpha()) or len(word) > MAX_PINYIN_LENGTH:
        return ()

    @cache
    def splits_from(start):
        if start == len(word):
            return ((),)
        found = []
        for end in range(min(len(word), start + MAX_SYLLABLE_LENGTH), start, -1):
            if word[start:end] not in SYLLABLES:
                continue
            for rest in splits_from(end):
                found.append((word[start:end], *rest))
                if len(found) == MAX_SPLITS:
                    return tuple(found)
        return tuple(found)

    return splits_from(0)


def name_readings(text):
    """Return the pinyin of normalised `text` as lists of syllables.

    The first list is pypinyin's reading in context. A second one follows
    when `text` starts with a surname that is read differently, such as 曾.
    Letter runs count as pinyin when they split into syllables, else as one
    unit. A character without a known reading gives NO_READING.
    """
    syllables = []
    for run in NAME_RUN.findall(text):
        if HAN_CHAR.match(run):
            syllables.extend(lazy_pinyin(run, errors=_readings_of_unknown))
        else:
            splits = split_pinyin(run)
            syllables.extend(splits[0] if splits else [run])
    if not syllables:
        return []
    readings = [syllables]
    surname = SURNAME_READINGS.get(text[:1])
    if surname and syllables[0] != surname:
        readings.append([surname, *syllables[1:]])
    return readings


def _readings_of_unknown(characters):
    return [EXTRA_READINGS.get(c, NO_READING) for c in characters]


def name_tokens(name, weights=PERSON_NAME):
    """Tokens of a person's name or alias: as written, each of its parts
    when a middle dot or space separates them, and their pinyin."""
    text = normalise_text(name)
    parts = [p for p in NAME_SEPARATORS.split(text) if p]
    if not parts:
        return {}
    tokens = _piece_tokens("".join(parts), weights)
    if len(parts) > 1:
        for part in parts:
            _merge(tokens, _piece_tokens(part, weights.halved()))
    return tokens


def _piece_tokens(piece, weights):
    tokens = {piece: weights.written}
    if len(piece) > 1:
        for character in HAN_CHAR.findall(piece):
            _add(tokens, character, weights.character)
    for syllables in name_readings(piece):
        known = [s for s in syllables if s != NO_READING]
        for syllable in known:
            _add(tokens, syllable, weights.syllable)
            _add(tokens, fuzzy_syllable(syllable), weights.fuzzy_syllable)
        # A whole-name token with a syllable missing would match other names.
        if len(known) < len(syllables):
            continue
        _add(tokens, "".join(syllables), weights.pinyin)
        _add(tokens, fuzzy_pinyin(syllables), weights.fuzzy)
        if len(syllables) > 1:
            _add(tokens, "".join(s[0] for s in syllables), weights.initials)
    return tokens


def case_number_tokens(case_number):
    """Tokens of a case number such as 越秀-2026-0153: the whole number,
    "2026-0153", "0153" and "153"."""
    number = "".join(normalise_text(case_number).split())
    if not number:
        return {}
    tokens = {number: CASE_NUMBER_WEIGHT}
    tail = CASE_NUMBER_TAIL.search(number)
    if tail:
        year, serial = tail.groups()
        _add(tokens, f"{year}-{serial}", CASE_SEQUENCE_WEIGHT)
        _add(tokens, serial, CASE_SERIAL_WEIGHT)
        _add(tokens, str(int(serial)), CASE_SERIAL_WEIGHT)
    return tokens


def id_number_tokens(id_number):
    """Tokens of an ID number: the whole number and its last 6 and 4
    characters, lower-cased so a final X matches x."""
    number = "".join(normalise_text(id_number).split())
    if not number:
        return {}
    tokens = {number: ID_NUMBER_WEIGHT}
    if len(number) > 6:
        _add(tokens, number[-6:], ID_TAIL6_WEIGHT)
    if len(number) > 4:
        _add(tokens, number[-4:], ID_TAIL4_WEIGHT)
    return tokens


def place_tokens(place):
    """Tokens of a place: the whole text without spaces and the bigrams of
    its Chinese characters, so that 火车站 finds 广州火车站东广场."""
    text = "".join(normalise_text(place).split())
    if not text:
        return {}
    tokens = {}
    _add(tokens, text, PLACE_WEIGHT)
    for bigram in han_bigrams(text):
        _add(tokens, bigram, PLACE_BIGRAM_WEIGHT)
    return tokens


def han_bigrams(text):
    """Return the pairs of adjacent Chinese characters in `text`, in order."""
    return [
        run[i : i + 2] for run in HAN_RUN.findall(text) for i in range(len(run) - 1)
    ]


def case_tokens(case, alias_names=()):
    tokens = name_tokens(case.name, PERSON_NAME)
    for alias in alias_names:
        _merge(tokens, name_tokens(alias, ALIAS_NAME))
    _merge(tokens, case_number_tokens(case.case_number))
    _merge(tokens, id_number_tokens(case.id_number))
    _merge(tokens, place_tokens(case.found_place))
    return tokens


def report_tokens(report):
    tokens = name_tokens(report.sought_name, PERSON_NAME)
    _merge(tokens, name_tokens(report.reporter_name, REPORTER_NAME))
    _merge(tokens, place_tokens(report.last_seen_place))
    return tokens


def _add(tokens, token, weight):
    token = token[:TOKEN_MAX_LENGTH]
    if token and weight > tokens.get(token, 0):
        tokens[token] = weight


def _merge(tokens, more):
    for token, weight in more.items():
        _add(tokens, token, weight)


# Query parsing.


def query_terms(text):
    """Split a query into Terms, each to be matched by a record.

    Adjacent pinyin words are joined first, so "zhang wei" is one word like
    "zhangwei". A word of Chinese characters also matches its pinyin and
    fuzzy pinyin, which finds homophones (章玮 finds 张伟). A word of letters
    also matches its fuzzy pinyin, so "zang wei" finds 张伟.
    """
    words = [
        NAME_SEPARATORS.sub("", word)
        for word in QUERY_SEPARATORS.split(normalise_text(text))
    ]
    words = _join_pinyin_words([w for w in words if w])
    return [_term(word) for word in words[:MAX_QUERY_WORDS]]


def _join_pinyin_words(words):
    joined = []
    previous_is_pinyin = False
    for word in words:
        is_pinyin = bool(split_pinyin(word))
        if is_pinyin and previous_is_pinyin:
            joined[-1] += word
        else:
            joined.append(word)
        previous_is_pinyin = is_pinyin
    return joined


def _term(word):
    any_of = {word}
    all_of = set()
    if HAN_RUN.fullmatch(word):
        for syllables in name_readings(word):
            if NO_READING not in syllables:
                any_of.add("".join(syllables))
                any_of.add(fuzzy_pinyin(syllables))
    else:
        for syllables in split_pinyin(word):
            any_of.add(fuzzy_pinyin(syllables))
    bigrams = set(han_bigrams(word))
    if len(bigrams) > 1:
        all_of = bigrams
    return Term(
        frozenset(t[:TOKEN_MAX_LENGTH] for t in any_of),
        frozenset(all_of),
    )


# Keeping the index up to date.


def reindex_case(case):
    """Replace the tokens of `case`, or remove them once it is merged.

    Call it inside the transaction that changes the case or its aliases.
    """
    if case.merged_into_id is not None:
        remove(SearchToken.CASE, case.id)
        return
    aliases = CaseAlias.select(CaseAlias.name).where(CaseAlias.case == case.id)
    tokens = case_tokens(case, [alias.name for alias in aliases])
    _replace_tokens(SearchToken.CASE, case.id, tokens)


def reindex_report(report):
    """Replace the tokens of `report`.

    Call it inside the transaction that saves the report.
    """
    _replace_tokens(SearchToken.REPORT, report.id, report_tokens(report))


def remove(kind, object_id):
    """Delete the tokens of one record of `kind` ("case" or "report")."""
    (
        SearchToken.delete()
        .where((SearchToken.kind == kind) & (SearchToken.object_id == object_id))
        .execute()
    )


def _replace_tokens(kind, object_id, tokens):
    rows = [(kind, object_id, token, weight) for token, weight in tokens.items()]
    with database.atomic():
        remove(kind, object_id)
        if rows:
            SearchToken.insert_many(rows, fields=_TOKEN_FIELDS).execute()


_TOKEN_FIELDS = [
    SearchToken.kind,
    SearchToken.object_id,
    SearchToken.token,
    SearchToken.weight,
]


def rebuild_index(batch_size=1000):
    """Rebuild the tokens of every case and report, for records saved
    before this index existed or after the token rules change.

    Runs in one transaction and returns the numbers of cases and reports.
    """
    with database.atomic():
        SearchToken.delete().execute()
        cases = _rebuild_cases(batch_size)
        reports = 0
        reports_query = MissingReport.select().order_by(MissingReport.id)
        for batch in _batches(reports_query, batch_size):
            _insert_tokens(
                SearchToken.REPORT, [(r.id, report_tokens(r)) for r in batch]
            )
            reports += len(batch)
    return cases, reports


def _rebuild_cases(batch_size):
    query = Case.select().where(Case.merged_into.is_null()).order_by(Case.id)
    count = 0
    for batch in _batches(query, batch_size):
        aliases = {}
        alias_rows = CaseAlias.select(CaseAlias.case, CaseAlias.name).where(
            CaseAlias.case.in_([c.id for c in batch])
        )
        for alias in alias_rows:
            aliases.setdefault(alias.case_id, []).append(alias.name)
        tokens = [(c.id, case_tokens(c, aliases.get(c.id, ()))) for c in batch]
        _insert_tokens(SearchToken.CASE, tokens)
        count += len(batch)
    return count


def _batches(query, size):
    batch = []
    for row in query.iterator():
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert_tokens(kind, tokens_by_id):
    rows = [
        (kind, object_id, token, weight)
        for object_id, tokens in tokens_by_id
        for token, weight in tokens.items()
    ]
    for start in range(0, len(rows), 5000):
        batch = rows[start : start + 5000]
        SearchToken.insert_many(batch, fields=_TOKEN_FIELDS).execute()


# Searching.


def search_cases(
    user,
    text="",
    *,
    station_id=None,
    status=None,
    sex=None,
    age_from=None,
    age_to=None,
    found_from=None,
    found_to=None,
    placement=None,
    page=1,
    per_page=20,
):
    """Return a Page of the cases `user` may see that match `text` and the
    filters.

    Matches of `text` come best first, then newest (created_at) first, with
    an exact total. Without text, cases come newest first, or latest found
    first when a found date is filtered, and the total stops at COUNT_LIMIT.
    `status` and `placement` take one value or a list. Ages match when the
    case's age range overlaps [age_from, age_to], so a case without any age
    never matches an age filter. `found_from` and `found_to` are dates, both
    inclusive.
    """
    query = Case.visible_to(user)
    query = filter_cases(
        query,
        station_id=station_id,
        status=status,
        sex=sex,
        age_from=age_from,
        age_to=age_to,
        found_from=found_from,
        found_to=found_to,
        placement=placement,
    )
    terms = query_terms(text)
    if not terms:
        # A list filtered by found date is ordered by it, so the found_at
        # index both selects and orders the rows. Ordered by created_at
        # instead, a range of past dates made SQLite read and sort up to
        # 45,000 of 100,000 rows.
        if found_from or found_to:
            query = query.order_by(Case.found_at.desc(), Case.id.desc())
        else:
            query = query.order_by(Case.created_at.desc(), Case.id.desc())
        return _page(query, _case_rows(), page, per_page)

    matches = _matches(SearchToken.CASE, terms)
    ranked = (
        query.select(Case.id)
        .switch(Case)
        .join(matches, on=(Case.id == matches.c.object_id))
        .order_by(matches.c.score.desc(), Case.created_at.desc(), Case.id.desc())
    )
    return _ranked_page(ranked, _case_rows(), page, per_page)


def _case_rows():
    return Case.select(Case, Station).join(Station)


def search_reports(text="", page=1, per_page=20):
    """Return a Page of missing-person reports matching `text` by sought
    name, last-seen place or reporter name, best match first, else newest."""
    terms = query_terms(text)
    if not terms:
        query = MissingReport.select().order_by(
            MissingReport.created_at.desc(), MissingReport.id.desc()
        )
        return _page(query, MissingReport.select(), page, per_page)

    matches = _matches(SearchToken.REPORT, terms)
    ranked = (
        MissingReport.select(MissingReport.id)
        .join(matches, on=(MissingReport.id == matches.c.object_id))
        .order_by(
            matches.c.score.desc(),
            MissingReport.created_at.desc(),
            MissingReport.id.desc(),
        )
    )
    return _ranked_page(ranked, MissingReport.select(), page, per_page)


def similar_cases(name, age_min, age_max, *, exclude_id=None, limit=5):
    """Return earlier cases, from every station, whose name or alias sounds
    like `name` (same pinyin or fuzzy pinyin) and whose age range overlaps
    [age_min, age_max], for the repeat-visitor check at intake.

    A case without a recorded age is kept, because its age cannot rule it
    out. A name that says the name is unknown (不详, 无名氏) finds nothing.
    """
    text = normalise_text(name)
    if not text or NAME_SEPARATORS.sub("", text) in UNKNOWN_NAMES:
        return []
    tokens = [
        token
        for token, weight in name_tokens(text, PERSON_NAME).items()
        if weight >= SIMILAR_MIN_WEIGHT
    ]
    matches = (
        SearchToken.select(
            SearchToken.object_id, fn.SUM(SearchToken.weight).alias("score")
        )
        .where(
            _kind_is(SearchToken.CASE)
            & SearchToken.token.in_(tokens)
            & (SearchToken.weight >= SIMILAR_MIN_WEIGHT)
        )
        .group_by(SearchToken.object_id)
        .alias("matches")
    )
    query = (
        Case.select(Case, Station)
        .join(Station)
        .switch(Case)
        .join(matches, on=(Case.id == matches.c.object_id))
        .where(Case.merged_into.is_null())
    )
    if exclude_id is not None:
        query = query.where(Case.id != exclude_id)
    if age_min is not None or age_max is not None:
        unknown_age = Case.age_min.is_null() & Case.age_max.is_null()
        low = age_min if age_min is not None else age_max
        high = age_max if age_max is not None else age_min
        query = query.where(_age_overlaps(low, high) | unknown_age)
    query = query.order_by(
        matches.c.score.desc(), Case.created_at.desc(), Case.id.desc()
    ).limit(limit)
    return list(query)


def _matches(kind, terms):
    """Select (object_id, score) of the records of `kind` matching every term.

    The score sums the weights of the record's rows among the tokens of all
    terms. A record matches a term with one of its any_of tokens or with all
    of its bigrams. Counting the bigrams per record works because a record
    contains each token once.
    """
    tokens = sorted(set().union(*(term.any_of | term.all_of for term in terms)))
    query = (
        SearchToken.select(
            SearchToken.object_id, fn.SUM(SearchToken.weight).alias("score")
        )
        .where(SearchToken.token.in_(tokens) & _kind_is(kind))
        .group_by(SearchToken.object_id)
    )
    if len(terms) == 1 and not terms[0].all_of:
        return query.alias("matches")

    # Several terms, or the bigrams of one, usually match far fewer records
    # than their tokens have rows. Finding those records first from the
    # index saves most of the weight reads.
    matched = reduce(operator.and_, map(_term_matched, terms))
    ids = _matched_ids(kind, tokens, matched)
    if ids is None:
        query = query.having(matched)
    else:
        query = query.where(SearchToken.object_id.in_(ids))
    return query.alias("matches")


def _matched_ids(kind, tokens, matched):
    """Return the ids of the records with `tokens` that satisfy `matched`,
    or None when there are more than MAX_MATCHED_IDS.

    The query reads token, kind and object_id only, which the
    (token, kind, object_id) index contains, so no table row is read.
    """
    query = (
        SearchToken.select(SearchToken.object_id)
        .where(SearchToken.token.in_(tokens) & _kind_is(kind))
        .group_by(SearchToken.object_id)
        .having(matched)
        .limit(MAX_MATCHED_IDS + 1)
    )
    ids = [object_id for (object_id,) in query.tuples()]
    return None if len(ids) > MAX_MATCHED_IDS else ids


def _kind_is(kind):
    if is_postgres():
        return SearchToken.kind == kind
    # Without ANALYZE statistics, SQLite 3.40 read every token row of the
    # kind through the (kind, object_id) index, because it returns them in
    # GROUP BY order: 300 ms instead of 4 ms for a name among 20,000 cases.
    # kind || '' is not indexed, so the (token, kind, object_id) index wins.
    return SearchToken.kind.concat("") == kind


def _term_matched(term):
    def hits(tokens):
        return fn.SUM(peewee.Case(None, [(SearchToken.token.in_(tokens), 1)], 0))

    matched = hits(sorted(term.any_of)) > 0
    if term.all_of:
        matched = matched | (hits(sorted(term.all_of)) == len(term.all_of))
    return matched


def filter_cases(
    query,
    *,
    station_id=None,
    status=None,
    sex=None,
    age_from=None,
    age_to=None,
    found_from=None,
    found_to=None,
    placement=None,
):
    """Add the case-list filters of search_cases to a Case query."""
    if station_id:
        query = query.where(Case.station == station_id)
    if status:
        query = query.where(_equals_any(Case.status, status))
    if placement:
        query = query.where(_equals_any(Case.placement, placement))
    if sex:
        query = query.where(Case.sex == sex)
    if age_from is not None or age_to is not None:
        query = query.where(_age_overlaps(age_from, age_to))
    # NOTE: found_at is naive UTC and the bounds are UTC midnights, so a case
    # found before 08:00 Beijing time counts towards the day before.
    if found_from:
        query = query.where(Case.found_at >= datetime.combine(found_from, time.min))
    if found_to:
        next_day = datetime.combine(found_to + timedelta(days=1), time.min)
        query = query.where(Case.found_at < next_day)
    return query


def _equals_any(field, value):
    if isinstance(value, str):
        return field == value
    return field.in_(list(value))


def _age_overlaps(age_from, age_to):
    """Match cases whose [age_min, age_max] overlaps [age_from, age_to].

    A case with only one bound recorded is taken to be that age. Either
    argument may be None for an open end.
    """
    low = fn.COALESCE(Case.age_min, Case.age_max)
    high = fn.COALESCE(Case.age_max, Case.age_min)
    conditions = [low.is_null(False)]
    if age_from is not None:
        conditions.append(high >= age_from)
    if age_to is not None:
        conditions.append(low <= age_to)
    return reduce(operator.and_, conditions)


def _page(query, rows, page, per_page):
    """Return a Page of `query`, counting its rows up to COUNT_LIMIT.

    The page's ids are selected first, and `rows`, a query of the full
    records, loads them after. A sort that no index serves then sorts ids,
    not whole rows: with 100,000 cases on SQLite 3.40 that took a third to a
    half of the time.
    """
    page, per_page = _page_bounds(page, per_page)
    # One row more than the page shows whether a next page exists.
    window = query.limit(per_page + 1).offset((page - 1) * per_page)
    ids = [row[0] for row in database.execute(window.select(query.model.id))]
    has_next = len(ids) > per_page
    if page == 1 and not has_next:
        total = len(ids)
    else:
        total = query.limit(COUNT_LIMIT + 1).count()
    return Page(
        items=_rows_by_id(rows, ids[:per_page]),
        total=min(total, COUNT_LIMIT),
        page=page,
        per_page=per_page,
        has_next=has_next,
        total_is_capped=total > COUNT_LIMIT,
    )


def _ranked_page(ranked, rows, page, per_page):
    """Return a Page from `ranked`, a query of ids best first, and `rows`, a
    query of the full records.

    One pass fetches the ids of all matches, which gives the exact total as
    well: a separate count would group the matching tokens a second time.
    """
    page, per_page = _page_bounds(page, per_page)
    ids = [row[0] for row in database.execute(ranked)]
    return Page(
        items=_rows_by_id(rows, ids[(page - 1) * per_page : page * per_page]),
        total=len(ids),
        page=page,
        per_page=per_page,
        has_next=page * per_page < len(ids),
    )


def _rows_by_id(rows, ids):
    """Return the records of `rows` with `ids`, in the order of `ids`."""
    by_id = {row.id: row for row in rows.where(rows.model.id.in_(ids))}
    return [by_id[object_id] for object_id in ids]


def _page_bounds(page, per_page):
    page = max(int(page or 1), 1)
    per_page = min(max(int(per_page or 1), 1), MAX_PER_PAGE)
    return page, per_page
