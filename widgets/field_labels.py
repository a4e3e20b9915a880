"""How crm_core's fields are named to people in the app: one table for every page that
names a field by itself (the import wizard's field list, the merge review, a refusal
from a form with no label of its own). Each form's own labels come first where it has
them."""

from __future__ import annotations

from widgets.i18n import N_

#: crm_core's field name -> its label (marked for translation; ``_()`` it to show).
FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "first_name": N_("First name"),
    "last_name": N_("Last name"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "mobile": N_("Mobile"),
    "street": N_("Street"),
    "street2": N_("Street (line 2)"),
    "city": N_("City"),
    "zip": N_("Postcode"),
    "state": N_("State or province"),
    "country": N_("Country"),
    "notes": N_("Notes"),
    "job_title": N_("Job title"),
    "language": N_("Language"),
    "birthday": N_("Birthday"),
    "company": N_("Company"),
    "owner": N_("Owner"),
    "tags": N_("Tags"),
    "erp_id": N_("ERP id"),
    "website": N_("Website"),
    "vat": N_("VAT"),
    "stage": N_("Stage"),
    "type": N_("Type"),
    "expected_revenue": N_("Amount"),
    "currency": N_("Currency"),
    "probability": N_("Probability %"),
    "expected_close": N_("Close date"),
    "closed_at": N_("Closed on"),
    "lost_reason": N_("Lost reason"),
    "contact": N_("Contact"),
    "priority": N_("Priority"),
    "source": N_("Source"),
    "description": N_("Description"),
    "kind": N_("Kind"),
    "subject": N_("Subject"),
    "note": N_("Note"),
    "due_date": N_("Due"),
    "assignee": N_("Assignee"),
    "opportunity": N_("Deal"),
    "channel": N_("Channel"),
    "direction": N_("In/out"),
    "occurred_at": N_("When"),
    "summary": N_("Summary"),
    "user": N_("User"),
    "company_id": N_("Company"),
    "owner_id": N_("Owner"),
    "contact_id": N_("Contact"),
}
