"""A reply to a campaign message marks its member as responded, journaled like a
response recorded by hand; marking replies (which gives deals their campaign) is a
manager's or an admin's, since the deals are any rep's."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from crm_core.errors import AccessDenied
from crm_core.models import CampaignMember, JournalEntry
from tests.crm_core.mail.smtpd import smtpd_fixture  # noqa: F401 (the fixture)
from tests.crm_core.mail.test_send_attribution import sent  # noqa: F401 (the fixture)


def _marks(ws, cid):
    with ws.transaction() as s:
        return s.scalars(
            select(JournalEntry).where(
                JournalEntry.entity == "campaign_members",
                JournalEntry.record_id == cid,
                JournalEntry.field == "responded_at",
            )
        ).all()


def test_a_reply_marks_its_member_and_is_journaled(sent):  # noqa: F811
    ws, cid, imran = sent["ws"], sent["campaign"]["id"], sent["imran"]["id"]
    [mark] = _marks(ws, cid)  # the fetch marked Imran
    assert (mark.action, mark.user_id) == ("update", ws.user_id)
    assert f'"contact_id": {imran}' in mark.new and '"responded_at": null' in mark.old
    with ws.transaction() as s:  # as before the fetch marked him
        s.execute(update(CampaignMember).values(responded_at=None))
    assert ws.mail.mark_replies("Eid offer") == 1
    assert len(_marks(ws, cid)) == 2
    assert ws.mail.mark_replies("Eid offer") == 0  # marked once
    assert len(_marks(ws, cid)) == 2


def test_a_sales_user_may_not_mark_replies_or_attribute_deals(sent, clock):  # noqa: F811
    ws, imran = sent["ws"], sent["imran"]["id"]
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    clock.advance(days=1)
    olgas = ws.as_user("olga").pipeline.create("Cold room", contact=imran, owner="olga")
    bilal = ws.as_user("bilal")
    with pytest.raises(AccessDenied, match="mark replies"):
        bilal.mail.mark_replies()
    with pytest.raises(AccessDenied, match="mark replies"):
        bilal.mail.mark_replies("Eid offer")
    assert ws.pipeline.get(olgas["id"])["campaign_id"] is None
    ws.mail.mark_replies()  # a manager's run gives it its campaign
    assert ws.pipeline.get(olgas["id"])["campaign_id"] == sent["campaign"]["id"]
