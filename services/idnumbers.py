"""Resident ID numbers (居民身份证号码, GB 11643-1999).

An 18-character number is a 6-digit region code, the birth date as YYYYMMDD, a
3-digit sequence number whose last digit is odd for men and even for women,
and a check character computed with ISO 7064 MOD 11-2.

15-digit numbers from first-generation cards are accepted and upgraded to 18
characters: "19" goes before the 2-digit birth year, since those cards were
issued to people born in the 1900s, and the check character is computed. Such
cards have been invalid since 2013, but older people may still remember or
carry that number, and a family may have registered them under it.

Never log a full number: use mask().
"""

import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from services import divisions
from services.errors import InputError
from services.masking import mask_id_number

# ID numbers use Beijing time, the only time zone of mainland China.
BEIJING = ZoneInfo("Asia/Shanghai")
EARLIEST_BIRTH_YEAR = 1900
DIGITS = frozenset("0123456789")
# Weights 2**(17 - i) mod 11 for positions i = 0..16 (ISO 7064 MOD 11-2).
CHECK_WEIGHTS = tuple(pow(2, 17 - position, 11) for position in range(17))
# The check character for each value of the weighted sum mod 11.
CHECK_CHARACTERS = "10X98765432"
# "×" (the multiplication sign) is what some input methods offer for X.
X_FORMS = str.maketrans({"x": "X", "×": "X"})


class IdNumberError(InputError):
    """A rejected ID number, with a message for staff in Simplified Chinese.

    `code` is "empty", "invalid_character", "wrong_length", "unknown_region",
    "invalid_birth_date", "birth_date_too_early", "birth_date_in_future" or
    "wrong_check_digit".
    """


@dataclass(frozen=True)
class IdNumber:
    """A checked ID number and what it encodes.

    `number` has 18 characters, also when a 15-digit number was entered. The
    region names come from the division table: current names for a current
    code, the last names in use for an abolished one (`region_current` False).
    `city` is None under a municipality such as 北京市 and for county-level
    cities that report to the province. `county` is None for a city's own code.

    NOTE: a code that named another place before ID cards were introduced in
    the mid-1980s (230400 was 大庆市 until 1981) is decoded by its later use.
    """

    number: str = field(repr=False)
    region_code: str
    region_name: str
    province: str | None
    city: str | None
    county: str | None
    region_current: bool
    birth_date: date
    sex: str  # "male" or "female"
    upgraded_from_15: bool = False

    @property
    def masked(self) -> str:
        return mask(self.number)

    def age_on(self, day: date) -> int:
        """Return the age in whole years on `day`.

        Raises ValueError if `day` is before the birth date.
        """
        if day < self.birth_date:
            raise ValueError("day is before the birth date")
        birthday_passed = (day.month, day.day) >= (
            self.birth_date.month,
            self.birth_date.day,
        )
        return day.year - self.birth_date.year - (0 if birthday_passed else 1)


def normalise(raw: str) -> str:
    """Remove spaces and invisible characters, fold full-width forms, upper-case X.

    NFKC turns full-width digits and letters (０-９, Ｘ) into ASCII and the
    ideographic space and no-break space into spaces. Zero-width characters and
    the byte order mark are format characters (Unicode category Cf).
    """
    text = unicodedata.normalize("NFKC", raw or "")
    visible = (
        character
        for character in text
        if not character.isspace() and unicodedata.category(character) != "Cf"
    )
    return "".join(visible).translate(X_FORMS)


def check_character(body: str) -> str:
    """Return the check character for the first 17 digits (ISO 7064 MOD 11-2).

    Raises ValueError unless `body` is 17 ASCII digits.
    """
    if len(body) != 17 or not set(body) <= DIGITS:
        raise ValueError("body must be 17 digits")
    digits = (int(digit) for digit in body)
    total = sum(
        digit * weight for digit, weight in zip(digits, CHECK_WEIGHTS, strict=True)
    )
    return CHECK_CHARACTERS[total % 11]


def mask(number: str) -> str:
    """Return the number with all but the first 4 and last 4 characters hidden."""
    return mask_id_number(normalise(number))


def parse(raw: str, today: date | None = None) -> IdNumber:
    """Check an ID number as typed by staff and decode it.

    `today` defaults to the current date in Beijing. Raises IdNumberError with
    a message that names the wrong part and what to check.
    """
    number = normalise(raw)
    _check_characters(number)
    upgraded = len(number) == 15
    if upgraded:
        body = number[:6] + "19" + number[6:]
        number = body + check_character(body)
    elif len(number) != 18:
        raise _wrong_length_error(len(number))

    region = _region(number[:6])
    birth_date = _birth_date(number[6:14], today or datetime.now(BEIJING).date())
    _check_check_character(number)
    return IdNumber(
        number=number,
        region_code=region.code,
        region_name=region.full_name,
        **_names_by_level(region),
        region_current=region.current,
        birth_date=birth_date,
        sex="male" if int(number[16]) % 2 else "female",
        upgraded_from_15=upgraded,
    )


def _check_characters(number):
    if not number:
        raise IdNumberError("empty", _l("请填写身份证号。"))
    for position, character in enumerate(number, start=1):
        if character in DIGITS:
            continue
        # X may end a number of any length but 15, so that a 17- or
        # 19-character number gets the wrong-length message. First-generation
        # 15-digit numbers have no check character.
        if character == "X" and position == len(number) and position != 15:
            continue
        raise IdNumberError(
            "invalid_character",
            _l(
                "身份证号第 %(position)d 位“%(character)s”无效："
                "身份证号只能由数字组成，18 位号码的最后一位可以是 X。"
                "请对照证件重新输入。",
                position=position,
                character=character,
            ),
        )


def _wrong_length_error(length):
    return IdNumberError(
        "wrong_length",
        _l(
            "身份证号应为 18 位（或一代证的 15 位），现在是 %(length)d 位。"
            "请检查是否漏输或多输了数字。",
            length=length,
        ),
    )


def _region(code):
    region = divisions.lookup(code)
    if region is not None:
        return region
    if code.startswith("9"):
        message = _l(
            "以 9 开头的是外国人永久居留身份证号码，不是居民身份证号。"
            "请核对证件类型和号码。"
        )
    else:
        message = _l(
            "身份证号前 6 位地区码 %(code)s 在现行和历史行政区划代码中都不存在。"
            "请核对前 6 位数字。",
            code=code,
        )
    raise IdNumberError("unknown_region", message)


def _birth_date(digits, today):
    try:
        birth_date = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError as error:
        raise _invalid_birth_date_error(digits) from error
    if birth_date.year < EARLIEST_BIRTH_YEAR:
        raise IdNumberError(
            "birth_date_too_early",
            _l(
                "身份证号中的出生日期 %(date)s 早于 %(year)d 年，号码无效。"
                "请核对第 7 到 14 位。",
                date=birth_date.isoformat(),
                year=EARLIEST_BIRTH_YEAR,
            ),
        )
    if birth_date > today:
        raise IdNumberError(
            "birth_date_in_future",
            _l(
                "身份证号中的出生日期 %(date)s 晚于今天。请核对第 7 到 14 位。",
                date=birth_date.isoformat(),
            ),
        )
    return birth_date


def _invalid_birth_date_error(digits):
    return IdNumberError(
        "invalid_birth_date",
        _l(
            "身份证号第 7 到 14 位应为出生日期，但 %(year)s 年 %(month)s 月 %(day)s 日"
            "不存在。请核对这几位数字。",
            year=digits[:4],
            month=digits[4:6],
            day=digits[6:],
        ),
    )


def _check_check_character(number):
    expected = check_character(number[:17])
    if number[17] == expected:
        return
    raise IdNumberError(
        "wrong_check_digit",
        _l(
            "身份证号校验不通过：按前 17 位计算，最后一位应为 %(expected)s，"
            "实际为 %(actual)s。号码中至少有一位有误，不一定是最后一位，"
            "请对照证件逐位核对。",
            expected=expected,
            actual=number[17],
        ),
    )


def _names_by_level(region):
    """Return the province, city and county names on the region's path."""
    names = {"province": None, "city": None, "county": None}
    codes = region.parent_codes + (region.code,)
    path_names = region.parent_names + (region.name,)
    for code, name in zip(codes, path_names, strict=True):
        names[divisions.lookup(code).level] = name
    return names
