"""``crmbook mail send|campaign|outbox|drain|retry`` as a user runs them, configured by
environment variables, against a real SMTP server on loopback."""

from __future__ import annotations

import crm_core
from tests.crm_core.mail.smtpd import smtpd_fixture  # noqa: F401 (the fixture)
from tests.crm_core.test_cli import crmbook


def test_send_preview_drain_fail_retry_and_campaign_from_the_command_line(
    tmp_path, smtpd, monkeypatch
):
    monkeypatch.setenv("CRMBOOK_SMTP_HOST", smtpd.host)
    monkeypatch.setenv("CRMBOOK_SMTP_PORT", str(smtpd.port))
    monkeypatch.setenv("CRMBOOK_SMTP_SECURITY", "none")
    monkeypatch.setenv("CRMBOOK_MAIL_FROM", "Indus <sales@indus.example.com>")
    assert crmbook("init", "shop.sqlite", cwd=tmp_path).returncode == 0
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        olga = ws.contacts.create(
            name="Olga Petrova", email="olga@volga.example.com", language="ru"
        )
        ws.contacts.create(name="Omar Out", email="omar@example.org", no_marketing=True)
        made = ws.campaigns.create("Spring", channel="email")
        ws.campaigns.add_contacts(made["id"], [olga["id"], olga["id"] + 1])

    shown = crmbook(
        "mail", "send", "olga@volga.example.com", "--template", "follow_up", "--preview",
        "-w", "shop.sqlite", cwd=tmp_path,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "Subject: Напоминание" in shown.stdout and "Language: ru" in shown.stdout
    assert "Уважаемый(ая) Olga Petrova," in shown.stdout

    smtpd.refuse("olga@volga.example.com")
    queued = crmbook(
        "mail", "send", str(olga["id"]), "--template", "follow_up", "-w", "shop.sqlite",
        cwd=tmp_path,
    )  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert queued.stdout.startswith("queued #1 to olga@volga.example.com: Напоминание")
    drained = crmbook("mail", "drain", "-w", "shop.sqlite", cwd=tmp_path)
    assert drained.returncode == 1
    assert "sent 0, failed 1" in drained.stdout
    assert "failed #1: olga@volga.example.com: 554 5.7.1" in drained.stdout
    failed = crmbook("mail", "outbox", "--state", "failed", "-w", "shop.sqlite", cwd=tmp_path)
    assert "Access denied" in failed.stdout and "failed" in failed.stdout

    smtpd.accept("olga@volga.example.com")
    again = crmbook("mail", "retry", "1", "-w", "shop.sqlite", cwd=tmp_path)
    assert again.returncode == 0 and "queued again" in again.stdout
    drained = crmbook("mail", "drain", "-w", "shop.sqlite", cwd=tmp_path)
    assert drained.returncode == 0 and "sent 1, failed 0" in drained.stdout
    assert [r.rcpt_tos for r in smtpd.received] == [["olga@volga.example.com"]]

    dry = crmbook(
        "mail", "campaign", "Spring", "--template", "newsletter", "--dry-run",
        "--set", "headline=Новая коллекция", "-w", "shop.sqlite", cwd=tmp_path,
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "campaign 'Spring': would queue 1, skipped 1 (1 opted out)" in dry.stdout
    assert "olga@volga.example.com [ru]: Spring от Indus" in dry.stdout
    missing = crmbook(
        "mail", "send", "nobody@example.org", "--template", "follow_up", "-w", "shop.sqlite",
        cwd=tmp_path,
    )  # fmt: skip
    assert missing.returncode == 1 and "no contact has it" in missing.stderr
