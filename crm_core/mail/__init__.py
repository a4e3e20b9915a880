"""E-mail in: IMAP mailboxes whose messages become interactions (``ws.mail``).

One job per module: :mod:`~crm_core.mail.imap` reads folders incrementally (UIDVALIDITY
+ UID), :mod:`~crm_core.mail.parse` turns bytes into facts (encoded words, legacy
charsets, broken MIME), :mod:`~crm_core.mail.html_text` makes HTML plain,
:mod:`~crm_core.mail.bounces` reads delivery failure reports,
:mod:`~crm_core.mail.linking` finds the contact, company and deal,
:mod:`~crm_core.mail.threads` threads replies, :mod:`~crm_core.mail.store` writes a
batch, :mod:`~crm_core.mail.lease` keeps two processes off one mailbox,
:mod:`~crm_core.mail.run` is one fetch, :mod:`~crm_core.mail.report` its outcome,
:mod:`~crm_core.mail.progress` its bar, :mod:`~crm_core.mail.credentials` the passwords and
:mod:`~crm_core.mail.service` the workspace API.
"""

from crm_core.mail.report import FetchReport, Skipped
from crm_core.mail.service import DEFAULT_FOLDERS, Mail

__all__ = ["DEFAULT_FOLDERS", "FetchReport", "Mail", "Skipped"]
