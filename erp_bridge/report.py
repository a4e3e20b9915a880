"""What a sync run did: counts, conflicts and errors per model, and its duration."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

COUNTS = (
    "created",
    "updated",
    "archived",
    "skipped",
    "matched",
    "ambiguous",
    "pushed_created",
    "pushed_updated",
    "conflicts",
    "hidden",
    "errors",
)


@dataclass
class ModelReport:
    """Counts for one entity, plus each failed record with its id and reason.

    ``hidden`` counts linked records the ERP user can no longer see (they still exist
    there): left as they are, never archived as if deleted. ``matched`` counts records
    with no twin yet that were found on the other side by e-mail, VAT or phone and
    linked to it (instead of created there); ``ambiguous`` those for which several
    candidates were found: nothing is created for them, they wait in the review queue
    (:mod:`erp_bridge.review`)."""

    created: int = 0
    updated: int = 0
    archived: int = 0
    skipped: int = 0
    matched: int = 0
    ambiguous: int = 0
    pushed_created: int = 0
    pushed_updated: int = 0
    conflicts: int = 0
    hidden: int = 0
    errors: list[str] = field(default_factory=list)
    #: Records merged into another one locally whose twin the run archived in the ERP,
    #: each said in words, the ERP's model named as it calls it ("contact #42
    #: (<model> #7) archived in the ERP: merged into contact #17 (<model> #3)").
    merges: list[str] = field(default_factory=list)
    #: ERP values not kept as they are but marked as not validated (an amount too
    #: large to keep exactly), each said in words: not failures, nothing to retry;
    #: ``crmbook quality`` lists them until someone sets a value that can be kept.
    kept: list[str] = field(default_factory=list)
    #: What the run did otherwise than asked, or could not do, about single records,
    #: said once each in words (not failures, nothing to retry): a contact created in
    #: the ERP as an address of its company so its own address is kept there, a
    #: local owner with no user in the ERP.
    notes: list[str] = field(default_factory=list)

    def add(self, other: ModelReport) -> None:
        """Add another report's counts, errors, merges and kept values to this one."""
        for name in COUNTS[:-1]:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors += other.errors
        self.merges += other.merges
        self.kept += other.kept
        self.notes += other.notes


@dataclass
class SyncReport:
    """The result of one run; ``plan`` lists the writes a dry run would make."""

    backend: str
    dry_run: bool = False
    seconds: float = 0.0
    models: dict[str, ModelReport] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    run_id: int | None = None
    #: What the run left out and why (a field or a model this ERP does not have).
    notes: list[str] = field(default_factory=list)
    #: How the run ended: ``done``, ``done_with_errors`` (some records failed: they
    #: are listed for the next runs), or ``failed`` (it stopped; ``reason`` says why).
    status: str = "running"
    reason: str | None = None

    def model(self, name: str) -> ModelReport:
        """The report of one entity, created on first use."""
        return self.models.setdefault(name, ModelReport())

    def to_frame(self) -> pd.DataFrame:
        """One row per model with the counts (errors counted)."""
        rows = []
        for name, rep in self.models.items():
            row: dict[str, Any] = {"model": name, **asdict(rep)}
            row["errors"] = len(rep.errors)
            rows.append(row)
        return pd.DataFrame(rows, columns=["model", *COUNTS])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, stored with the run."""
        return {
            "backend": self.backend,
            "dry_run": self.dry_run,
            "seconds": self.seconds,
            "models": {k: asdict(v) for k, v in self.models.items()},
            "plan": self.plan,
            "notes": self.notes,
            "status": self.status,
            "reason": self.reason,
        }

    @property
    def merges(self) -> list[str]:
        """Every merged-away record the run archived in the ERP, in words."""
        return [line for rep in self.models.values() for line in rep.merges]

    @property
    def kept(self) -> list[str]:
        """Every ERP value the run kept marked as not validated, prefixed by its model."""
        return [f"{name}: {line}" for name, rep in self.models.items() for line in rep.kept]

    @property
    def errors(self) -> list[str]:
        """Every error of the run, prefixed by its model."""
        return [f"{name}: {e}" for name, rep in self.models.items() for e in rep.errors]

    def _repr_html_(self) -> str:  # shown as a table in notebooks
        return self.to_frame()._repr_html_()  # type: ignore[no-any-return, operator]

    def __str__(self) -> str:
        head = f"sync {self.backend}{' (dry run)' if self.dry_run else ''} in {self.seconds:.1f}s"
        head += f": {self.status.replace('_', ' ')}" + (f" ({self.reason})" if self.reason else "")
        notes = "".join(f"\nmerge: {line}" for line in self.merges)
        notes += "".join(f"\nnot validated: {line}" for line in self.kept)
        notes += "".join(f"\nnote: {note}" for note in self.notes)
        notes += "".join(
            f"\nnote: {name}: {line}" for name, rep in self.models.items() for line in rep.notes
        )
        return head + "\n" + self.to_frame().to_string(index=False) + notes
