"""No field stores an invisible direction control (U+202A-U+202E, U+2066-U+2069): in a
note as in a name, one reorders what the next reader sees ("PKR \u202e000,05" reads
"PKR 50,000"). Every multi-line field refuses them through its public path, naming the
field; the marks LRM and RLM, which Urdu text uses, stay."""

from __future__ import annotations

import pytest

from crm_core import ValidationError

CONTROLS = [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]


def writers(ws):
    """(field, a call writing ``text`` into a multi-line field) for each such field."""
    company = ws.companies.create(name="Indus Textiles")["id"]
    contact = ws.contacts.create(name="عمران خان", company_id=company)["id"]
    deal = ws.pipeline.create("Looms", company_id=company)["id"]
    return [
        ("notes", lambda text: ws.contacts.update(contact, notes=text)),
        ("notes", lambda text: ws.companies.create(name="Kazan", notes=text)),
        ("description", lambda text: ws.pipeline.update(deal, description=text)),
        (
            "summary",
            lambda text: ws.interactions.log("call", "out", contact_id=contact, summary=text),
        ),
        (
            "note",
            lambda text: ws.activities.schedule(
                "call", "Call back", "2026-06-01", contact_id=contact, note=text
            ),
        ),
    ]


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_multi_line_fields_refuse_direction_controls_naming_the_field(ws, control):
    for field, write in writers(ws):
        with pytest.raises(ValidationError) as refused:
            write(f"Agreed price: PKR {control}000,05 per unit")
        assert [e.field for e in refused.value.errors] == [field]
        assert f"U+{ord(control):04X}" in str(refused.value)
        assert "direction control" in str(refused.value)


def test_multi_line_fields_keep_line_breaks_and_the_rtl_marks(ws):
    text = "قیمت طے ہوئی\u200f\nPKR 50,000\u200e\tفی یونٹ"
    for _field, write in writers(ws):
        write(text)
    (contact,) = ws.contacts.search("عمران")["id"]
    assert ws.contacts.get(contact)["notes"] == text
