"""Free text (reasons, notes, review comments): line breaks and tabs yes, controls and bidi overrides no.

The models are the ones the handlers validate with; the pattern each puts in the OpenAPI document must say the same.
"""
from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from service.http.audit_review import EmergencyReviewIn
from service.http.schemas import EmergencyIn, ReasonIn, paragraph, text

LONG = "Akut förgiftning, medvetslös"  # ≥ 20 characters, as an emergency reason needs
REFUSED = ["\x00", "\x07", "\x1b[31m", "\x7f", "\x85", "\u202e", "\u202a", "\u2066", "\u2069", "\x0b"]
ALLOWED = ["\n", "\r\n", "\t", "\u200f", "ö", "🙂", "\u2028"]


def _accepts(adapter: TypeAdapter, pattern: str, value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        valid = False
    else:
        valid = True
    assert valid == bool(re.search(pattern, value)), f"model and documented pattern disagree on {value!r}"
    return valid


@pytest.mark.parametrize("bad", REFUSED)
def test_controls_and_bidi_overrides_are_refused_everywhere(bad):
    for make in (lambda v: ReasonIn(reason=v), lambda v: EmergencyIn(reason=v),
                 lambda v: EmergencyReviewIn(verdict="justified", comment=v)):
        with pytest.raises(ValidationError, match="bidirectional"):
            make(f"{LONG}{bad}{LONG}")
    for kind in (paragraph(1000), paragraph(2000, min_length=20), text(2000)):
        adapter = TypeAdapter(kind)
        pattern = adapter.json_schema()["pattern"]
        assert not _accepts(adapter, pattern, f"{LONG}{bad}{LONG}")


@pytest.mark.parametrize("good", ALLOWED)
def test_line_breaks_tabs_and_marks_are_kept(good):
    assert ReasonIn(reason=f"{LONG}{good}{LONG}").reason == f"{LONG}{good}{LONG}"
    for kind in (paragraph(1000), paragraph(2000, min_length=20), text(2000)):
        adapter = TypeAdapter(kind)
        assert _accepts(adapter, adapter.json_schema()["pattern"], f"{LONG}{good}{LONG}")


def test_blank_and_short_stay_refused_where_they_were():
    for kind, value, ok in ((paragraph(1000), " \n\t ", False), (text(2000), " \n ", True),
                            (paragraph(2000, min_length=20), "  kort  ", False), (text(2000), "", True)):
        adapter = TypeAdapter(kind)
        assert _accepts(adapter, adapter.json_schema()["pattern"], value) is ok
