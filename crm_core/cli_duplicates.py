"""``crmbook duplicates``: companies and contacts that are probably one record.

``crmbook duplicates`` lists pairs of contacts, ``crmbook duplicates contacts`` and
``crmbook duplicates companies`` name what to look at; each takes ``--min-score``,
``--limit`` and ``--workspace``. The entity is a subcommand, not an argument, so that
more subcommands sit beside them under the same name: ``crmbook duplicates merge
contacts KEEP DROP [--field name=drop ...]``, ``crmbook duplicates undo MERGE_ID`` and
``crmbook duplicates merges`` (the latest merges, and whether each was undone).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import pandas as pd
import typer

from crm_core.cli import (
    DEFAULT_WORKSPACE,
    WorkspaceOption,
    _print_frame,
    acting,
    app,
    console,
    fail,
    say,
)
from crm_core.duplicates import DEFAULT_MIN_SCORE
from crm_core.duplicates.merge import CHOICES, ENTITIES
from crm_core.duplicates.service import MAX_LIMIT

duplicates_app = typer.Typer(
    help="Companies and contacts that are probably one record (pairs, best first).",
    invoke_without_command=True,
)
app.add_typer(duplicates_app, name="duplicates")

#: ``-w`` after a subcommand; without it, the one given before the subcommand (or its
#: default: $CRMBOOK_WORKSPACE, then crm.sqlite) is used.
SubWorkspace = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        help="SQLite file or database URL of the workspace (may also come before the subcommand).",
        show_default=False,
    ),
]


def _workspace(ctx: typer.Context, given: str | None) -> str:
    """The workspace a subcommand acts on: its own ``-w``, else the group's."""
    if given is not None:
        return given
    parent = ctx.parent.params.get("workspace") if ctx.parent is not None else None
    return parent or DEFAULT_WORKSPACE


def _inherited(ctx: typer.Context, name: str, value: float) -> float:
    """``--min-score`` or ``--limit`` of a subcommand, or the group's when only the
    group was given it (``crmbook duplicates --limit 5 companies``)."""
    parent = ctx.parent

    def given(c: Any) -> bool:  # a click context (typer's own copy of click, maybe)
        # By the source's name: typer may carry its own copy of click's enum.
        source = c.get_parameter_source(name)
        return source is not None and getattr(source, "name", "") != "DEFAULT"

    if parent is not None and not given(ctx) and given(parent):
        return type(value)(parent.params[name])
    return value


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
    ctx: typer.Context,
    workspace: SubWorkspace = None,
    min_score: MinScore = DEFAULT_MIN_SCORE,
    limit: Limit = DEFAULT_LIMIT,
) -> None:
    """Pairs of contacts that are probably one person, with their score and reasons."""
    _list(
        "contacts",
        _workspace(ctx, workspace),
        _inherited(ctx, "min_score", min_score),
        int(_inherited(ctx, "limit", limit)),
    )


@duplicates_app.command("companies")
def duplicate_companies(
    ctx: typer.Context,
    workspace: SubWorkspace = None,
    min_score: MinScore = DEFAULT_MIN_SCORE,
    limit: Limit = DEFAULT_LIMIT,
) -> None:
    """Pairs of companies that are probably one, with their score and reasons."""
    _list(
        "companies",
        _workspace(ctx, workspace),
        _inherited(ctx, "min_score", min_score),
        int(_inherited(ctx, "limit", limit)),
    )


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


@duplicates_app.command("merge")
def merge(
    ctx: typer.Context,
    entity: Annotated[str, typer.Argument(help="contacts or companies.")],
    keep: Annotated[int, typer.Argument(help="Id of the record that stays.")],
    drop: Annotated[int, typer.Argument(help="Id of the record merged into it (archived).")],
    field: Annotated[
        list[str] | None,
        typer.Option(
            "--field",
            help="FIELD=keep or FIELD=drop: whose value the kept record has (default: the"
            " most recently changed non-empty one; tags: both). Repeatable.",
        ),
    ] = None,
    workspace: SubWorkspace = None,
) -> None:
    """Merge record DROP into record KEEP (managers and admins); undo with
    ``crmbook duplicates undo MERGE_ID``."""
    if entity not in ENTITIES:
        fail(f"entity {entity!r}: must be one of {', '.join(ENTITIES)}")
    choose = {}
    for given in field or []:
        name, sep, side = given.partition("=")
        if not sep or side.strip() not in CHOICES:
            fail(f"--field {given!r}: write FIELD=keep or FIELD=drop")
        choose[name.strip()] = side.strip()
    with acting(_workspace(ctx, workspace)) as ws:
        done = ws.duplicates.merge(entity, keep, drop, choose or None)
    singular = ENTITIES[entity][1]
    say(
        f"merged {singular} #{done['dropped']} into {singular} #{done['kept']} "
        f"({done['record']['name']}); merge id {done['merge_id']}"
    )
    console.print(f"undo: crmbook duplicates undo {done['merge_id']}")


@duplicates_app.command("undo")
def undo(
    ctx: typer.Context,
    merge_id: Annotated[str, typer.Argument(help="The merge id (see: crmbook duplicates merges).")],
    workspace: SubWorkspace = None,
) -> None:
    """Undo a merge: both records and everything moved, as they were (managers and
    admins)."""
    with acting(_workspace(ctx, workspace)) as ws:
        done = ws.duplicates.undo(merge_id)
    singular = ENTITIES[done["entity"]][1]
    say(
        f"undid merge {merge_id}: {singular} #{done['dropped']} and {singular} "
        f"#{done['kept']} are as they were ({done['changes']} change(s) put back)"
    )


@duplicates_app.command("merges")
def merges(
    ctx: typer.Context,
    limit: Limit = DEFAULT_LIMIT,
    workspace: SubWorkspace = None,
) -> None:
    """The latest merges, newest first, and whether each was undone."""
    with acting(_workspace(ctx, workspace)) as ws:
        found = ws.duplicates.merges(int(_inherited(ctx, "limit", limit)))
        zone = ws.timezone
    if found.empty:
        say("no merge yet")
        return
    shown = found.assign(  # in the workspace's time zone, named
        at=found["at"].map(lambda t: f"{_aware(t).astimezone(zone):%Y-%m-%d %H:%M %Z}"),
        undone=found["undone"].map({True: "undone", False: ""}),
    )
    _print_frame(shown, title=f"{len(found)} latest merge(s)")


def _aware(moment: dt.datetime) -> dt.datetime:
    """A stored time (UTC; naive as SQLite gives it back) with its zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
