"""Reading a clue from an interview: which place, which provinces, whom to find."""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

from services import divisions

MATCH_KINDS = {
    "exact": _l("名称相同"),
    "former": _l("旧称"),
    "homophone": _l("读音相近"),
    "partial": _l("部分相同"),
}


@dataclass
class Interpretation:
    division_code: str = ""
    summary: str = ""


def interpret(kind, text):
    if kind == "place":
        return _place(text)
    if kind == "accent":
        provinces = divisions.provinces_for_accent(text)
        if not provinces:
            return Interpretation(summary=str(_l("未能判断口音对应的省份")))
        return Interpretation(
            summary=str(_l("口音可能来自：%(list)s", list="、".join(provinces)))
        )
    if kind == "person":
        return Interpretation(summary=str(_l("待查找的人：%(name)s", name=text)))
    return Interpretation()


def _place(text):
    matches = divisions.match_place(text, limit=3)
    if not matches:
        return Interpretation(summary=str(_l("行政区划中未找到匹配的地名")))
    parts = [
        f"{match.division.full_name}（{MATCH_KINDS.get(match.kind, match.kind)}）"
        for match in matches
    ]
    best = matches[0]
    return Interpretation(
        division_code=best.division.code,
        summary=str(_l("可能是：%(list)s", list="；".join(parts))),
    )


@dataclass
class Suggestion:
    kind: str
    text: str
    summary: str


def suggest(content, known_texts, limit=6):
    """Propose clues found in an interview's text that are not recorded yet.

    Place names come from the division table (current and former names,
    near-homophones); an accent mentioned in the text gives provinces.
    Staff decide which suggestions become clues.
    """
    suggestions, seen = [], set(known_texts)
    for match in divisions.match_place(content, limit=limit * 2):
        name = match.matched_name
        if name in seen:
            continue
        seen.add(name)
        kind_label = MATCH_KINDS.get(match.kind, match.kind)
        suggestions.append(
            Suggestion("place", name, f"{match.division.full_name}（{kind_label}）")
        )
        if len(suggestions) == limit:
            break
    provinces = divisions.provinces_for_accent(content)
    if provinces and "口音" not in seen:
        suggestions.append(
            Suggestion(
                "accent",
                str(_l("口音")),
                str(_l("口音可能来自：%(list)s", list="、".join(provinces))),
            )
        )
    return suggestions
