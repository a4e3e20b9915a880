"""erp_bridge: two-way sync between crm_core and an ERP (Odoo first).

Roles, one module each (after the OCA connector framework):

- ``adapter``: the typed surface an ERP implements; ``odoo/`` implements it over
  odoo-client-lib.
- ``binder``: the links (backend, entity, local id, remote id, last-synced values).
- ``mapper``: declarative field maps, both directions; ``odoo/mappings`` holds Odoo's.
- ``importer`` / ``exporter``: pull and push; ``run.sync`` orchestrates a run.

The algorithm:

0. **Fit** the maps to this ERP: one question per model (``Adapter.schema``) finds the
   fields and models it lacks (Odoo 19 has no partner ``mobile``; a database without
   Sales has no orders); they are left out of the run and named in its report.
1. **Pull** each model on the ERP's own ``write_date`` (see ``cursor``): inclusive,
   starting a rewind window before the last second read (``write_date`` is whole
   seconds and the transaction's start time), paged by that second plus the ids
   already read in it, archived records included (``active_test=False``), and
   de-duplicated on ``(id, write_date)`` against the links. Reference data first
   (users, stages, lost reasons, tags), then companies, contacts, deals.
2. Each remote record is **reconciled** with its local twin field by field against
   the link's last-synced values (``merge``): one side changed -> it wins; both
   changed -> the field's owner wins (ERP for accounting fields such as VAT, CRM for
   pipeline fields), shared fields follow the policy (last writer by default); every
   both-changed field is stored as a ``SyncConflict`` to review and re-decide.
3. **Push** every record journaled since the last push. A record whose values still
   equal the last-synced copy is not written back (echo suppression).
4. Creates in the ERP go through Odoo's ``load`` under an external id derived from the
   local id: a run killed between the remote create and the local commit finds the
   same record on the next run instead of making a second one. Local creates commit
   with their link in one transaction, and the pull cursor moves only after a page
   is applied, so a killed run neither loses nor duplicates a record.
5. Archiving is a synced field; records deleted in the ERP are found by comparing id
   sets (``--full``) and archived locally.
6. Products, invoices and sales orders are copied read-only for reports.

A run returns a ``SyncReport`` (counts, conflicts and errors per model, notes,
duration) and never stops at the first bad record. ``dry_run`` plans without writing on either side.
"""

from erp_bridge.report import SyncReport
from erp_bridge.run import sync

__all__ = ["SyncReport", "sync"]
