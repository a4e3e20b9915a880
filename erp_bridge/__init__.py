"""erp_bridge: two-way sync between crm_core and an ERP (Odoo first).

Roles, one module each (after the OCA connector framework):

- ``adapter``: the typed surface an ERP implements; ``odoo/`` implements it over
  odoo-client-lib.
- ``catalogue``: the adapter's data half: the ERP's models, fields and domains the sync
  reads (entity maps, reference data, read-only copies); ``odoo/catalogue`` is Odoo's.
  The generic modules name no ERP model.
- ``binder``: the links (backend, entity, local id, remote id, last-synced values).
- ``mapper``: declarative field maps, both directions; ``odoo/mappings`` holds Odoo's.
- ``importer`` / ``exporter``: pull and push; ``run.sync`` orchestrates a run.

The algorithm:

0. **Fit** the maps to this ERP: one question per model (``Adapter.schema``) finds the
   fields and models it lacks (Odoo 19 has no partner ``mobile``; a database without
   Sales has no orders); they are left out of the run and named in its report.
0. The ERP's **clock** is read first: that call tells at once whether the ERP can be
   reached (an unreachable, refusing or silent ERP fails the run within half a minute,
   stored as failed with the reason, no cursor moved), and the next run's rewind
   window counts from it.
1. **Pull** each model on the ERP's own ``write_date`` (see ``cursor``): the rewind
   window (``write_date`` is whole seconds and the transaction's start time) is
   re-checked by ids and dates only, counting from the last run's start, and only
   what is not applied yet is read in full; then everything newer, paged by second
   plus the ids already read in it, archived records included (``active_test=False``).
   Reference data first (users, stages, lost reasons, tags), then companies,
   contacts, deals. What the ERP holds is never dropped: a value crm_core would refuse
   from a keyboard is kept as written and marked as not validated; a partner without
   a name takes Odoo's display name.
2. Each remote record is **reconciled** with its local twin field by field against
   the link's last-synced values (``merge``): one side changed -> it wins; both
   changed -> the field's owner wins (ERP for accounting fields such as VAT, CRM for
   pipeline fields), shared fields follow the policy (last writer by default); every
   both-changed field is stored as a ``SyncConflict`` to review and re-decide.
2. A record with no link is first **matched** (``matching``): a remote one is looked
   up locally, a local one in the ERP (``Adapter.match_candidates``), by e-mail, VAT
   and phone normalised as crm_core compares them (``crm_core.keys``). One candidate:
   the two are linked and merged like any pair (values written differently but equal,
   such as a phone in national and E.164 form, are left as each side wrote them);
   several: nothing is created, the record waits in the review queue (``review``,
   ``crmbook sync match``) and its candidates are held until a person answers.
3. **Push** every record journaled since the entity's last push. A record whose
   values still equal the last-synced copy is not written back (echo suppression).
   A record that fails to pull or push is listed (``failures``) and tried again by
   every later run until it gets through.
4. Creates in the ERP go through Odoo's ``load`` under an external id derived from the
   local id: a run killed between the remote create and the local commit finds the
   same record on the next run instead of making a second one. Local creates commit
   with their link in one transaction, and the pull cursor moves only after a page
   is applied, so a killed run neither loses nor duplicates a record.
5. Archiving is a synced field; records deleted in the ERP are found by comparing id
   sets (``--full``) and archived locally, but only those that no longer exist at
   all: a record merely hidden from the syncing user is left alone and counted.
6. Products, invoices and sales orders are copied read-only for reports.

A run returns a ``SyncReport`` (counts, conflicts and errors per model, notes,
duration, how it ended) and never stops at the first bad record; it is stored
(``runs``: one running run per backend, a heartbeat, ``interrupted`` when killed).
``dry_run`` plans without writing on either side.
"""

from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.report import SyncReport
from erp_bridge.run import resync_from, sync
from erp_bridge.runs import RunBusy

__all__ = ["RemoteError", "RunBusy", "SyncReport", "Unavailable", "resync_from", "sync"]
