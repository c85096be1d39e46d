"""Swedish personnummer and samordningsnummer: parsing, validation and age.

Legal basis: Folkbokföringslagen (1991:481) 18 § (personnummer), 18 a §
(samordningsnummer); Skatteverket SKV 704.

Everything here is pure: no I/O and no clock. "today" is always passed in so
that century resolution, the future-date check and age are deterministic.

The numbers are sensitive personal data, so neither the exception messages
nor the repr/str of ``PersonalNumber`` ever contain the number or its digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

__all__ = [
    "InvalidPersonalNumber",
    "PersonalNumber",
    "age_on",
    "is_minor",
    "parse_personal_number",
]

# Optional century, YYMMDD, optional separator, NNNC. Explicit [0-9] so that
# non-ASCII digits (which str.isdigit would accept) are refused.
_PATTERN = re.compile(r"([0-9]{2})?([0-9]{2})([0-9]{2})([0-9]{2})([-+]?)([0-9]{4})")
_COORDINATION_OFFSET = 60
_ADULT_AGE = 18
# Personnummer were given (1947) to people then alive; the century digits are not
# covered by the check digit, so anything earlier than this is a typo, not a person.
_EARLIEST_YEAR = 1800


class InvalidPersonalNumber(ValueError):
    """The text is not a valid Swedish personnummer or samordningsnummer.

    The message only names the problem category and never contains the input.
    """


@dataclass(frozen=True, slots=True, repr=False)
class PersonalNumber:
    """A validated number. ``canonical`` is ``YYYYMMDDNNNC`` with the day as
    written (day + 60 for samordningsnummer); ``birth_date`` is the real date."""

    canonical: str
    birth_date: date
    coordination: bool

    def __repr__(self) -> str:
        return "PersonalNumber(<redacted>)"

    def __str__(self) -> str:
        return "PersonalNumber(<redacted>)"


def _luhn_check_digit(digits: str) -> int:
    """Check digit for the nine digits YYMMDDNNN (weights 2,1,2,... from the left)."""
    total = 0
    for index, char in enumerate(digits):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def parse_personal_number(text: str, *, today: date) -> PersonalNumber:
    """Parse and validate a personnummer or samordningsnummer.

    Accepts ``YYYYMMDD[-+]NNNC`` and ``YYMMDD[-+]NNNC`` (separator optional),
    surrounded by optional whitespace. A 10-digit number is placed in the
    latest century that is not after ``today``; ``+`` moves it back a further
    100 years (the person is 100 or older). For 12 digits the separator does
    not change the date.

    Raises InvalidPersonalNumber (wrong format, not a valid date, date in
    the future, or check digit mismatch); the message never includes the input.
    """
    if not isinstance(text, str):
        raise InvalidPersonalNumber("wrong format")
    match = _PATTERN.fullmatch(text.strip())
    if match is None:
        raise InvalidPersonalNumber("wrong format")
    century, yy, mm, dd, separator, serial = match.groups()
    year, month, written_day = int(yy), int(mm), int(dd)

    coordination = written_day > _COORDINATION_OFFSET
    day = written_day - _COORDINATION_OFFSET if coordination else written_day

    if century is not None:
        year += int(century) * 100
    else:
        year += today.year // 100 * 100
        if (year, month, day) > (today.year, today.month, today.day):
            year -= 100
        if separator == "+":
            year -= 100

    try:
        birth_date = date(year, month, day)
    except ValueError:
        raise InvalidPersonalNumber("not a valid date") from None
    if birth_date > today:
        raise InvalidPersonalNumber("date is in the future")
    if year < _EARLIEST_YEAR:
        raise InvalidPersonalNumber("not a valid date")

    if _luhn_check_digit(yy + mm + dd + serial[:3]) != int(serial[3]):
        raise InvalidPersonalNumber("check digit does not match")

    canonical = f"{year:04d}{mm}{dd}{serial}"
    return PersonalNumber(canonical=canonical, birth_date=birth_date, coordination=coordination)


def age_on(birth_date: date, *, today: date) -> int:
    """Completed years on ``today``.

    Someone born on 29 February turns a year older on 1 March in non-leap
    years. Raises ValueError if ``today`` is before ``birth_date``.
    """
    if today < birth_date:
        raise ValueError("today is before the birth date")
    not_yet = (today.month, today.day) < (birth_date.month, birth_date.day)
    return today.year - birth_date.year - int(not_yet)


def is_minor(birth_date: date, *, today: date) -> bool:
    """True if the person is under 18 on ``today``; raises as ``age_on``."""
    return age_on(birth_date, today=today) < _ADULT_AGE
