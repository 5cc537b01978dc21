"""Lists of long-stay and unidentified persons that cooperating neighbouring
cities share with each other.

Cooperation is an in-force neighbouring-city agreement (邻市合作协议) in the
directory, recorded on the other city's station. The city's own stations
(city and districts) share their lists with every such station. When that
station uses this deployment, its staff read the city's lists here.
"""

import io
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from openpyxl import Workbook

from db.accounts import Station
from db.base import utcnow
from db.cases import Case
from db.settings import Setting
from db.stations_directory import Agreement
from services.timezone import utc_to_local

# Statuses of a person whose identity is not yet known.
UNIDENTIFIED = (Case.IN_STATION, Case.SEARCHING)


def partner_ids(today):
    """Ids of stations with a neighbouring-city agreement in force on `today`."""
    rows = Agreement.select().where(
        (Agreement.kind == "neighbour_city")
        & (Agreement.valid_from <= today)
        & (Agreement.valid_until.is_null() | (Agreement.valid_until >= today))
    )
    return sorted({row.station_id for row in rows})


def own_ids():
    kinds = (Station.CITY, Station.DISTRICT)
    return [s.id for s in Station.select(Station.id).where(Station.kind.in_(kinds))]


def lists_for(user, today):
    """Return {station: [cases]} of the lists `user` may read, their own first.

    Staff of the city read their own stations' lists and those of partner
    stations that use this deployment. Staff of a partner station read
    their own list and the city's.
    """
    from access import visible_station_ids

    partners = partner_ids(today)
    visible = visible_station_ids(user)
    own = own_ids()
    if user.station.kind in (Station.CITY, Station.DISTRICT):
        mine = own if visible is None else [i for i in visible if i in own]
        online = Station.select().where(
            Station.id.in_(partners or [0]) & Station.uses_platform
        )
        sources = mine + [s.id for s in online]
    elif user.station_id in partners:
        sources = [user.station_id] + own
    else:
        sources = [user.station_id]
    return {source: list(shared_cases([source.id])) for source in _stations(sources)}


def _stations(ids):
    return list(Station.select().where(Station.id.in_(ids or [0])).order_by(Station.id))


def shared_cases(station_ids):
    """Open cases of `station_ids` whose person is unidentified or long-stay."""
    cutoff = utcnow() - timedelta(days=Setting.get_value("long_stay_days"))
    return (
        Case.select()
        .where(
            Case.station.in_(station_ids)
            & Case.merged_into.is_null()
            & Case.status.in_(Case.OPEN_STATUSES)
            & (Case.status.in_(UNIDENTIFIED) | (Case.created_at <= cutoff))
        )
        .order_by(Case.created_at)
        .limit(1000)
    )


def days_in_care(case, now):
    return (utc_to_local(now).date() - utc_to_local(case.created_at).date()).days


SPREADSHEET_COLUMNS = (
    _l("站点"),
    _l("个案编号"),
    _l("姓名"),
    _l("性别"),
    _l("估计年龄"),
    _l("方言口音"),
    _l("发现日期"),
    _l("发现地点"),
    _l("体貌特征"),
    _l("在站天数"),
    _l("状态"),
)


def own_list_for(user, today):
    """Return {station: [cases]} of the lists of `user`'s own stations, the
    ones the user may pass on to a neighbouring city."""
    from access import visible_station_ids

    visible = visible_station_ids(user)
    return {
        station: cases
        for station, cases in lists_for(user, today).items()
        if visible is None or station.id in visible
    }


def spreadsheet(lists, now):
    """Return the lists as .xlsx bytes, one row per person.

    Every value is written as text, so a name or place that starts with "="
    never becomes a formula in the neighbouring city's Excel.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = str(_l("共享名单"))
    sheet.append([str(title) for title in SPREADSHEET_COLUMNS])
    for station, cases in lists.items():
        for case in cases:
            ages = ""
            if case.age_min or case.age_max:
                ages = f"{case.age_min or '?'}-{case.age_max or '?'}"
            found = (
                utc_to_local(case.found_at).date().isoformat() if case.found_at else ""
            )
            row = [
                station.name,
                case.case_number,
                case.display_name,
                str(case.sex_label),
                ages,
                case.dialect,
                found,
                case.found_place,
                case.marks,
                str(days_in_care(case, now)),
                str(case.status_label),
            ]
            sheet.append(row)
            for cell in sheet[sheet.max_row]:
                cell.data_type = "s"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
