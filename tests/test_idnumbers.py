from datetime import date

import pytest

from services import idnumbers
from services.idnumbers import IdNumberError

TODAY = date(2026, 6, 1)


def make_number(region, birth, sequence):
    """Return a valid 18-character number built with our own check character."""
    body = f"{region}{birth}{sequence}"
    return body + idnumbers.check_character(body)


def number_ending_in_x(region, birth):
    """Return a valid number for the region and birth date whose check is X."""
    for sequence in range(1000):
        number = make_number(region, birth, f"{sequence:03d}")
        if number.endswith("X"):
            return number
    raise AssertionError("no sequence number gives X")


def parse_error(raw):
    with pytest.raises(IdNumberError) as caught:
        idnumbers.parse(raw, today=TODAY)
    return caught.value


def test_check_character_of_standard_example():
    # The worked example in GB 11643-1999.
    assert idnumbers.check_character("11010519491231002") == "X"


def test_check_character_detects_any_single_digit_error():
    body = "42060219870515123"
    expected = idnumbers.check_character(body)
    for position in range(17):
        for digit in "0123456789":
            if digit == body[position]:
                continue
            changed = body[:position] + digit + body[position + 1 :]
            assert idnumbers.check_character(changed) != expected, changed


def test_check_character_detects_adjacent_swaps():
    body = "42060219870515123"
    expected = idnumbers.check_character(body)
    for position in range(16):
        if body[position] == body[position + 1]:
            continue
        swapped = (
            body[:position] + body[position + 1] + body[position] + body[position + 2 :]
        )
        assert idnumbers.check_character(swapped) != expected, swapped


@pytest.mark.parametrize("body", ["1101051949123100", "1101051949123100X", ""])
def test_check_character_rejects_bad_body(body):
    with pytest.raises(ValueError):
        idnumbers.check_character(body)


@pytest.mark.parametrize(
    "region, birth, sequence, province, city, county, sex",
    [
        ("420602", "19870515", "123", "湖北省", "襄阳市", "襄城区", "male"),
        ("110105", "19491231", "002", "北京市", None, "朝阳区", "female"),
        ("440113", "20000229", "458", "广东省", "广州市", "番禺区", "female"),
        ("441900", "19750101", "031", "广东省", "东莞市", None, "male"),
        ("419001", "19600730", "217", "河南省", None, "济源市", "male"),
        ("810000", "19900101", "004", "香港特别行政区", None, None, "female"),
    ],
)
def test_parse_valid_number(region, birth, sequence, province, city, county, sex):
    number = make_number(region, birth, sequence)

    parsed = idnumbers.parse(number, today=TODAY)

    assert parsed.number == number
    assert parsed.region_code == region
    assert parsed.province == province
    assert parsed.city == city
    assert parsed.county == county
    assert parsed.region_current is True
    assert parsed.birth_date == date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    assert parsed.sex == sex
    assert parsed.upgraded_from_15 is False


def test_parse_standard_example():
    parsed = idnumbers.parse("11010519491231002X", today=TODAY)

    assert parsed.region_name == "北京市朝阳区"
    assert parsed.birth_date == date(1949, 12, 31)
    assert parsed.sex == "female"


def test_parse_number_ending_in_x():
    number = number_ending_in_x("420606", "19921103")

    parsed = idnumbers.parse(number.lower(), today=TODAY)

    assert parsed.number == number
    assert parsed.number.endswith("X")
    assert parsed.region_name == "湖北省襄阳市樊城区"


@pytest.mark.parametrize(
    "typed",
    [
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and Ｘ
        "11010519491231002ｘ",
        "110105 19491231 002x",
        "\ufeff110105\u200b19491231\u200c002\u200dX",  # BOM and zero-width
        "\u00a0110105\u300019491231\u2060002X\t\n",  # NBSP, ideographic space
        "11010519491231002×",  # multiplication sign for X
    ],
)
def test_parse_cleans_typed_forms(typed):
    assert idnumbers.normalise(typed) == "11010519491231002X"
    assert idnumbers.parse(typed, today=TODAY).number == "11010519491231002X"


def test_wrong_check_digit_rejected():
    number = make_number("420602", "19870515", "123")
    wrong = number[:17] + ("0" if number[17] != "0" else "1")

    error = parse_error(wrong)

    assert error.code == "wrong_check_digit"
    assert f"最后一位应为 {number[17]}" in str(error)
    assert "不一定是最后一位" in str(error)


def test_typo_in_body_rejected_by_check_digit():
    number = make_number("420602", "19870515", "123")
    typo = number[:15] + str((int(number[15]) + 1) % 10) + number[16:]

    assert parse_error(typo).code == "wrong_check_digit"


@pytest.mark.parametrize("region", ["123456", "420699", "000000"])
def test_unknown_region_rejected(region):
    error = parse_error(make_number(region, "19870515", "123"))

    assert error.code == "unknown_region"
    assert region in str(error)
    assert "前 6 位" in str(error)


def test_foreign_permanent_residence_number_explained():
    error = parse_error(make_number("933110", "19870515", "123"))

    assert error.code == "unknown_region"
    assert "外国人永久居留身份证" in str(error)


@pytest.mark.parametrize("birth", ["19900229", "19000229", "19871301", "19870431"])
def test_impossible_birth_date_rejected(birth):
    error = parse_error(make_number("420602", birth, "123"))

    assert error.code == "invalid_birth_date"
    assert "不存在" in str(error)


def test_leap_day_accepted():
    parsed = idnumbers.parse(make_number("420602", "19960229", "123"), today=TODAY)

    assert parsed.birth_date == date(1996, 2, 29)


def test_future_birth_date_rejected():
    error = parse_error(make_number("420602", "20260602", "123"))

    assert error.code == "birth_date_in_future"
    assert "2026-06-02" in str(error)


def test_birth_today_accepted():
    parsed = idnumbers.parse(make_number("420602", "20260601", "123"), today=TODAY)

    assert parsed.birth_date == TODAY


def test_birth_before_1900_rejected():
    error = parse_error(make_number("420602", "18991231", "123"))

    assert error.code == "birth_date_too_early"


def test_abolished_county_decoded():
    parsed = idnumbers.parse(make_number("440126", "19800101", "125"), today=TODAY)

    assert parsed.region_current is False
    assert parsed.province == "广东省"
    assert parsed.city == "广州市"
    assert parsed.county == "番禺县"
    assert parsed.region_name == "广东省广州市番禺县"


def test_abolished_city_decoded():
    parsed = idnumbers.parse(make_number("371200", "19950101", "125"), today=TODAY)

    assert parsed.region_current is False
    assert parsed.province == "山东省"
    assert parsed.city == "莱芜市"
    assert parsed.county is None


def test_15_digit_number_upgraded():
    parsed = idnumbers.parse("440126850317123", today=TODAY)

    assert parsed.upgraded_from_15 is True
    assert parsed.number == make_number("440126", "19850317", "123")
    assert parsed.birth_date == date(1985, 3, 17)
    assert parsed.sex == "male"
    assert parsed.region_current is False


def test_15_digit_number_with_x_rejected():
    error = parse_error("44012685031712X")

    assert error.code == "invalid_character"
    assert "第 15 位" in str(error)


@pytest.mark.parametrize("length", [1, 14, 16, 17, 19])
def test_wrong_length_rejected(length):
    typed = ("42060219870515123" * 2)[:length]

    error = parse_error(typed)

    assert error.code == "wrong_length"
    assert f"现在是 {length} 位" in str(error)


@pytest.mark.parametrize(
    "typed, position, character",
    [
        ("A2060219870515123X", 1, "A"),
        ("4206021987X515123X", 11, "X"),
        ("420602-19870515-123", 7, "-"),
        ("4206021987O515123X", 11, "O"),
    ],
)
def test_invalid_character_rejected(typed, position, character):
    error = parse_error(typed)

    assert error.code == "invalid_character"
    assert f"第 {position} 位“{character}”" in str(error)


@pytest.mark.parametrize("typed", ["", "   ", "\u200b", None])
def test_empty_rejected(typed):
    assert parse_error(typed).code == "empty"


def test_error_messages_never_contain_full_number():
    number = make_number("420602", "19870515", "123")
    wrong_check = number[:17] + ("0" if number[17] != "0" else "1")
    unknown_region = make_number("123456", "19870515", "123")
    future = make_number("420602", "20300101", "123")

    for typed in (wrong_check, unknown_region, future, number + "1"):
        message = str(parse_error(typed))
        assert typed not in message
        assert typed[:17] not in message


def test_mask_keeps_first_and_last_four():
    assert idnumbers.mask("11010519491231002X") == "1101**********002X"
    assert idnumbers.mask(" 110105 19491231 002x ") == "1101**********002X"


def test_repr_hides_number():
    number = make_number("420602", "19870515", "123")

    parsed = idnumbers.parse(number, today=TODAY)

    assert number not in repr(parsed)
    assert parsed.masked == number[:4] + "*" * 10 + number[-4:]


@pytest.mark.parametrize(
    "day, age",
    [
        (date(1987, 5, 15), 0),
        (date(2026, 5, 14), 38),
        (date(2026, 5, 15), 39),
        (date(2026, 12, 31), 39),
    ],
)
def test_age_on(day, age):
    parsed = idnumbers.parse(make_number("420602", "19870515", "123"), today=TODAY)

    assert parsed.age_on(day) == age


def test_age_on_leap_day_birthday():
    parsed = idnumbers.parse(make_number("420602", "19960229", "123"), today=TODAY)

    assert parsed.age_on(date(2025, 2, 28)) == 28
    assert parsed.age_on(date(2025, 3, 1)) == 29
    assert parsed.age_on(date(2028, 2, 29)) == 32


def test_age_on_before_birth_raises():
    parsed = idnumbers.parse(make_number("420602", "19870515", "123"), today=TODAY)

    with pytest.raises(ValueError):
        parsed.age_on(date(1987, 5, 14))


def test_parse_defaults_to_beijing_today():
    number = make_number("420602", "19870515", "123")

    assert idnumbers.parse(number).birth_date == date(1987, 5, 15)
