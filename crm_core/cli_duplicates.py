"""``crmbook duplicates``: companies and contacts that are probably one record.

``crmbook duplicates`` lists pairs of contacts, ``crmbook duplicates contacts`` and
``crmbook duplicates companies`` name what to look at; each takes ``--min-score``,
``--limit`` and ``--workspace``. The entity is a subcommand, not an argument, so that
more subcommands (merging, undoing a merge) sit beside them under the same name.
"""

from __future__ import annotations

from typing import Annotated

import pandas as pd
import typer

from crm_core.cli import DEFAULT_WORKSPACE, WorkspaceOption, _print_frame, acting, app, console, say
from crm_core.duplicates import DEFAULT_MIN_SCORE
from crm_core.duplicates.service import MAX_LIMIT

duplicates_app = typer.Typer(
    help="Companies and contacts that are probably one record (pairs, best first).",
    invoke_without_command=True,
)
app.add_typer(duplicates_app, name="duplicates")

MinScore = Annotated[
    float,
    typer.Option(
        "--min-score", help="Pairs scoring at least this, 0..100 (default: the usual one)."
    ),
]
Limit = Annotated[int, typer.Option(min=1, max=MAX_LIMIT - 1, help="The most pairs shown.")]
DEFAULT_LIMIT = 50


@duplicates_app.callback()
def duplicates(
    ctx: typer.Context,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    min_score: MinScore = DEFAULT_MIN_SCORE,
    limit: Limit = DEFAULT_LIMIT,
) -> None:
    """Pairs of contacts that are probably one person; see the subcommands for
    companies."""
    if ctx.invoked_subcommand is None:
        _list("contacts", workspace, min_score, limit)


@duplicates_app.command("contacts")
def duplicate_contacts(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    min_score: MinScore = DEFAULT_MIN_SCORE,
    limit: Limit = DEFAULT_LIMIT,
) -> None:
    """Pairs of contacts that are probably one person, with their score and reasons."""
    _list("contacts", workspace, min_score, limit)


@duplicates_app.command("companies")
def duplicate_companies(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    min_score: MinScore = DEFAULT_MIN_SCORE,
    limit: Limit = DEFAULT_LIMIT,
) -> None:
    """Pairs of companies that are probably one, with their score and reasons."""
    _list("companies", workspace, min_score, limit)


def _list(entity: str, workspace: str, min_score: float, limit: int) -> None:
    """Print the pairs of ``ws.duplicates.find`` as a table (one more is asked for, to
    know whether there are more than shown)."""
    with acting(workspace) as ws:
        found = ws.duplicates.find(entity, min_score=min_score, limit=limit + 1)
    more = len(found) > limit
    found = found.head(limit)
    if found.empty:
        say(f"no pair of {entity} scores {min_score:g} or more")
        return
    shown = pd.DataFrame(
        {
            "score": found["score"],
            "first": [f"#{i} {n}" for i, n in zip(found["id_a"], found["name_a"], strict=True)],
            "second": [f"#{i} {n}" for i, n in zip(found["id_b"], found["name_b"], strict=True)],
            "reasons": found["reasons"],
            "in the ERP": [
                _linked(a, b) for a, b in zip(found["erp_a"], found["erp_b"], strict=True)
            ],
        }
    )
    _print_frame(shown, title=f"{len(found)} pair(s) of {entity} scoring {min_score:g} or more")
    if more:
        console.print(f"more: --limit {limit * 2}")


def _linked(a: bool, b: bool) -> str:
    """Which of a pair is linked to an ERP, as the table shows it."""
    return {(True, True): "both", (True, False): "first", (False, True): "second"}.get(
        (bool(a), bool(b)), ""
    )
