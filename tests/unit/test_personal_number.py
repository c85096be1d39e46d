"""Tests for policies.personal_number (Swedish personnummer/samordningsnummer)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies.personal_number import (
    InvalidPersonalNumber,
    PersonalNumber,
    age_on,
    is_minor,
    parse_personal_number,
)

TODAY = date(2026, 11, 25)


def luhn(nine: str) -> str:
    """Independent, simple Luhn: weights 2,1,2,... from the left, sum the digit sums."""
    weights = [2, 1, 2, 1, 2, 1, 2, 1, 2]
    total = sum(sum(int(c) for c in str(int(d) * w)) for d, w in zip(nine, weights, strict=True))
    return str((10 - total % 10) % 10)


def with_check(yymmdd: str, serial: str = "123") -> str:
    """The last ten digits YYMMDDNNNC with a correct check digit."""
    return yymmdd + serial + luhn(yymmdd + serial)


def parse(text: str, today: date = TODAY) -> PersonalNumber:
    return parse_personal_number(text, today=today)


def assert_invalid(text: object, category: str | None = None, today: date = TODAY) -> None:
    with pytest.raises(InvalidPersonalNumber) as info:
        parse_personal_number(text, today=today)  # type: ignore[arg-type]
    message = str(info.value)
    assert not any(ch.isdigit() for ch in message), "message must not contain any digit"
    if isinstance(text, str) and text.strip():
        assert text.strip() not in message
    if category is not None:
        assert message == category


# --- known test numbers --------------------------------------------------------


def test_luhn_helper_on_skatteverket_test_number() -> None:
    assert luhn("121212121") == "2"
    assert luhn("701072123") == "6"


@pytest.mark.parametrize(
    "text",
    [
        "191212121212",
        "19121212-1212",
        "19121212+1212",
        "121212+1212",
        "  19121212-1212\n",
        "\t191212121212 ",
    ],
)
def test_accepted_formats_for_1912(text: str) -> None:
    pn = parse(text)
    assert pn.canonical == "191212121212"
    assert pn.birth_date == date(1912, 12, 12)
    assert pn.coordination is False


@pytest.mark.parametrize("text", ["1212121212", "121212-1212", "20121212-1212", "201212121212"])
def test_accepted_formats_for_2012(text: str) -> None:
    pn = parse(text)
    assert pn.canonical == "201212121212"
    assert pn.birth_date == date(2012, 12, 12)
    assert is_minor(pn.birth_date, today=TODAY)


def test_plus_makes_1912_an_adult_centenarian() -> None:
    pn = parse("121212+1212")
    assert pn.birth_date == date(1912, 12, 12)
    assert age_on(pn.birth_date, today=TODAY) == 113
    assert not is_minor(pn.birth_date, today=TODAY)


def test_twelve_digit_separator_does_not_change_date() -> None:
    assert parse("20121212+1212") == parse("20121212-1212") == parse("201212121212")


# --- century rule for 10 digits ------------------------------------------------


@pytest.mark.parametrize("sep", ["-", ""])
def test_ten_digits_birthday_exactly_today_is_current_century(sep: str) -> None:
    digits = with_check("261125")
    pn = parse(digits[:6] + sep + digits[6:])
    assert pn.birth_date == date(2026, 11, 25)
    assert pn.canonical == "20" + digits
    assert age_on(pn.birth_date, today=TODAY) == 0


@pytest.mark.parametrize("sep", ["-", ""])
def test_ten_digits_birthday_tomorrow_is_previous_century(sep: str) -> None:
    digits = with_check("261126")
    pn = parse(digits[:6] + sep + digits[6:])
    assert pn.birth_date == date(1926, 11, 26)
    assert pn.canonical == "19" + digits
    assert age_on(pn.birth_date, today=TODAY) == 99


def test_ten_digits_plus_goes_back_another_hundred_years() -> None:
    today_digits = with_check("261125")
    tomorrow_digits = with_check("261126")
    assert parse(today_digits[:6] + "+" + today_digits[6:]).birth_date == date(1926, 11, 25)
    assert parse(tomorrow_digits[:6] + "+" + tomorrow_digits[6:]).birth_date == date(1826, 11, 26)


def test_ten_digit_century_follows_today() -> None:
    digits = with_check("991231")
    assert parse(digits, today=date(2099, 12, 31)).birth_date == date(2099, 12, 31)
    assert parse(digits, today=date(2099, 12, 30)).birth_date == date(1999, 12, 31)
    assert parse(digits, today=date(2000, 1, 1)).birth_date == date(1999, 12, 31)


# --- samordningsnummer ---------------------------------------------------------


@pytest.mark.parametrize("text", ["19701072-1236", "197010721236", "701072-1236", "7010721236"])
def test_samordningsnummer(text: str) -> None:
    pn = parse(text)
    assert pn.coordination is True
    assert pn.birth_date == date(1970, 10, 12)
    assert pn.canonical == "197010721236"


def test_samordningsnummer_day_bounds() -> None:
    assert parse("19" + with_check("701261")).birth_date == date(1970, 12, 1)
    assert parse("19" + with_check("701291")).birth_date == date(1970, 12, 31)
    assert_invalid("19" + with_check("701292"), "not a valid date")
    assert_invalid("19" + with_check("701160"), "not a valid date")
    assert_invalid("19" + with_check("701191"), "not a valid date")  # 31 November


# --- dates ---------------------------------------------------------------------


def test_leap_day() -> None:
    assert parse("20" + with_check("000229")).birth_date == date(2000, 2, 29)
    assert parse("20" + with_check("240229")).birth_date == date(2024, 2, 29)
    assert parse("20" + with_check("000289")).birth_date == date(2000, 2, 29)  # coordination
    assert_invalid("19" + with_check("000229"), "not a valid date")
    assert_invalid("20" + with_check("230229"), "not a valid date")
    assert_invalid("20" + with_check("230289"), "not a valid date")


def test_leap_day_ten_digits() -> None:
    digits = with_check("000229")
    assert parse(digits[:6] + "-" + digits[6:]).birth_date == date(2000, 2, 29)
    assert_invalid(digits[:6] + "+" + digits[6:], "not a valid date")  # 1900 is no leap year


@pytest.mark.parametrize("mmdd", ["0001", "1301", "9901", "0100", "0132", "0431", "0230", "0160"])
def test_invalid_month_or_day(mmdd: str) -> None:
    assert_invalid("19" + with_check("90" + mmdd), "not a valid date")


def test_future_date_refused() -> None:
    assert_invalid("20" + with_check("261126"), "date is in the future")
    assert_invalid("20" + with_check("261186"), "date is in the future")  # coordination
    assert_invalid("21" + with_check("000101"), "date is in the future")
    assert parse("20" + with_check("261125")).birth_date == TODAY


# --- check digit ---------------------------------------------------------------

VALID = ["191212121212", "197010721236", "20" + with_check("000229", "987")]


@pytest.mark.parametrize("valid", VALID)
def test_every_single_digit_change_is_refused_twelve_digits(valid: str) -> None:
    parse(valid)
    # The Luhn digit covers the last ten digits; the century is not covered by it.
    for position in range(2, 12):
        for replacement in "0123456789":
            if replacement == valid[position]:
                continue
            changed = valid[:position] + replacement + valid[position + 1 :]
            assert_invalid(changed)


@pytest.mark.parametrize("valid", [v[2:8] + "-" + v[8:] for v in VALID] + [v[2:] for v in VALID])
def test_every_single_digit_change_is_refused_ten_digits(valid: str) -> None:
    parse(valid)
    for position, original in enumerate(valid):
        if original == "-":
            continue
        for replacement in "0123456789":
            if replacement != original:
                assert_invalid(valid[:position] + replacement + valid[position + 1 :])


def test_wrong_check_digit_category() -> None:
    assert_invalid("191212121213", "check digit does not match")
    assert_invalid("121212-1210", "check digit does not match")


# --- garbage -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abcdefghijkl",
        "19121212-121X",
        "1912121212a12",
        "191212 121212",
        "19121212 -1212",
        "19121212- 1212",
        "12121 2-1212",
        "12121212121",  # 11 digits
        "1912121212121",  # 13 digits
        "121212121",  # 9 digits
        "١٩١٢١٢١٢١٢١٢",  # Arabic-Indic digits
        "１９１２１２１２１２１２",  # fullwidth digits
        "19121212-121٢",
        "1912-12121212",
        "191212121-212",
        "1912121212-12",
        "-191212121212",
        "191212121212-",
        "19121212--1212",
        "19121212+-1212",
        "1212121-212",
        "19121212/1212",
        "19121212_1212",
        "19121212\u20131212",  # en dash
        "19121212-1212x",
        "+121212-1212",
        "19121212\n1212",
    ],
)
def test_garbage_refused(text: str) -> None:
    assert_invalid(text, "wrong format")


@pytest.mark.parametrize("value", [None, 191212121212, b"191212121212"])
def test_non_string_refused(value: object) -> None:
    assert_invalid(value, "wrong format")


def test_invalid_personal_number_is_value_error() -> None:
    assert issubclass(InvalidPersonalNumber, ValueError)


# --- no leaking ----------------------------------------------------------------


@pytest.mark.parametrize("text", ["19121212-1212", "701072-1236", "121212+1212"])
def test_repr_and_str_do_not_reveal_number(text: str) -> None:
    pn = parse(text)
    for rendered in (repr(pn), str(pn), f"{pn}", f"{pn!r}", repr([pn])):
        assert not any(ch.isdigit() for ch in rendered)
        assert "redacted" in rendered


def test_exception_does_not_chain_internal_error() -> None:
    with pytest.raises(InvalidPersonalNumber) as info:
        parse("19901301" + "1234")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True
    assert all(not any(ch.isdigit() for ch in str(arg)) for arg in info.value.args)


def test_personal_number_is_frozen() -> None:
    pn = parse("19121212-1212")
    with pytest.raises(AttributeError):
        pn.canonical = "x"  # type: ignore[misc]


# --- age -----------------------------------------------------------------------


def test_eighteenth_birthday() -> None:
    born = date(2008, 11, 25)
    assert age_on(born, today=date(2026, 11, 24)) == 17
    assert is_minor(born, today=date(2026, 11, 24))
    assert age_on(born, today=date(2026, 11, 25)) == 18
    assert not is_minor(born, today=date(2026, 11, 25))


def test_leap_day_birthday_in_non_leap_year() -> None:
    born = date(2008, 2, 29)
    assert age_on(born, today=date(2026, 2, 28)) == 17
    assert is_minor(born, today=date(2026, 2, 28))
    assert age_on(born, today=date(2026, 3, 1)) == 18
    assert not is_minor(born, today=date(2026, 3, 1))


def test_leap_day_birthday_in_leap_year() -> None:
    born = date(2010, 2, 28)
    assert is_minor(born, today=date(2028, 2, 27))
    assert not is_minor(born, today=date(2028, 2, 28))
    leap_born = date(2000, 2, 29)
    assert age_on(leap_born, today=date(2028, 2, 28)) == 27
    assert age_on(leap_born, today=date(2028, 2, 29)) == 28


def test_age_on_birth_day_and_before_birth() -> None:
    assert age_on(TODAY, today=TODAY) == 0
    assert is_minor(TODAY, today=TODAY)
    with pytest.raises(ValueError):
        age_on(TODAY + timedelta(days=1), today=TODAY)


# --- property ------------------------------------------------------------------


@st.composite
def birth_and_today(draw: st.DrawFn) -> tuple[date, date]:
    today = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=today))
    return born, today


@given(
    dates=st.one_of(
        birth_and_today(),
        st.tuples(st.dates(min_value=date(1900, 1, 1), max_value=TODAY), st.just(TODAY)),
    ),
    serial=st.integers(min_value=0, max_value=999),
    coordination=st.booleans(),
)
def test_roundtrip_property(dates: tuple[date, date], serial: int, coordination: bool) -> None:
    born, today = dates
    day = born.day + (60 if coordination else 0)
    nine = f"{born.year % 100:02d}{born.month:02d}{day:02d}{serial:03d}"
    ten = nine + luhn(nine)
    twelve = f"{born.year // 100:02d}{ten}"

    pn = parse_personal_number(twelve, today=today)
    assert pn.birth_date == born
    assert pn.canonical == twelve
    assert pn.coordination is coordination

    separator = "+" if age_on(born, today=today) >= 100 else "-"
    short = parse_personal_number(ten[:6] + separator + ten[6:], today=today)
    assert short == pn


@pytest.mark.parametrize("number", ["09121212-1212", "17991212-1212"])
def test_century_digits_before_1800_are_refused(number):
    # The check digit does not cover the century, so an implausible one must be caught by range.
    with pytest.raises(InvalidPersonalNumber, match="not a valid date"):
        parse_personal_number(number, today=date(2026, 11, 25))
