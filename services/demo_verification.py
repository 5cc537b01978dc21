"""Demo data of the station directory and one verification request, loaded by
services.demo. Stations, contacts and agreements are invented; the division
codes are real."""

from datetime import date

from db.accounts import Station
from db.stations_directory import Agreement, StationContact
from services import verification

# (name, short name, directory group, division code, address, phone)
DIRECTORY = [
    (
        "佛山市救助管理站",
        "佛山",
        Station.NEIGHBOUR_CITY,
        "440600",
        "广东省佛山市禅城区",
        "0757-80000000",
    ),
    (
        "周口市救助管理站",
        "周口",
        Station.PILOT_CENTRE,
        "411600",
        "河南省周口市川汇区",
        "0394-8000000",
    ),
    (
        "南充市救助管理站",
        "南充",
        Station.PILOT_CENTRE,
        "511300",
        "四川省南充市顺庆区",
        "0817-2000000",
    ),
    (
        "赣州市救助管理站",
        "赣州",
        Station.PILOT_CENTRE,
        "360700",
        "江西省赣州市章贡区",
        "0797-8000000",
    ),
    (
        "汉中市救助管理站",
        "汉中",
        Station.PILOT_CENTRE,
        "610700",
        "陕西省汉中市汉台区",
        "0916-2000000",
    ),
    (
        "玉林市救助管理站",
        "玉林",
        Station.OTHER_STATION,
        "450900",
        "广西壮族自治区玉林市玉州区",
        "0775-2000000",
    ),
]

# (station short name, kind, title, valid from, scope)
AGREEMENTS = [
    (
        "汉中",
        "source_governance",
        "广州—汉中流浪乞讨人员源头共治协议",
        date(2024, 3, 1),
        "城固县、洋县等流出地的身份核实、家属寻找与接返安置。",
    ),
    (
        "周口",
        "cross_province",
        "粤豫跨省救助合作框架协议",
        date(2023, 6, 1),
        "身份核实请求在 10 个工作日内答复；协助联系村委会。",
    ),
    (
        "佛山",
        "neighbour_city",
        "广佛救助管理合作协议",
        date(2024, 1, 1),
        "共享长期滞留及身份不明人员名单，互相协查。",
    ),
]


def load(users, case):
    """Add the directory, its agreements and a sent request about `case`."""
    stations = {}
    for name, short, group, code, address, phone in DIRECTORY:
        stations[short] = Station.create(
            name=name,
            short_name=short,
            kind=Station.OTHER,
            directory_group=group,
            division_code=code,
            address=address,
            phone=phone,
        )
    StationContact.create(
        station=stations["汉中"],
        name="李主任",
        title="救助科科长",
        phone="0916-2000001",
    )
    for short, kind, title, valid_from, scope in AGREEMENTS:
        Agreement.create(
            station=stations[short],
            kind=kind,
            title=title,
            signed_on=valid_from,
            valid_from=valid_from,
            scope=scope,
            created_by=users["admin"],
        )
    staff = users["staff"]
    values = {
        "asks": ["confirm_identity", "find_family"],
        "question": (
            "本人自述姓黄，口音似陕南，请协助核实是否为汉中地区人员并寻找家属。"
        ),
        "known_facts": verification.default_known_facts(case),
        "include_id_number": False,
        "contact_name": staff.full_name,
        "contact_phone": "020-81000000",
    }
    photo_ids = [photo.id for photo in case.photos]
    request = verification.create_draft(
        case, stations["汉中"], values, photo_ids, staff
    )
    verification.send(request, staff)
