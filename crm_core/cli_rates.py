"""``crmbook rates``: the exchange rates money is converted with.

``crmbook rates set EUR 2026-01-31 0.0031 --base PKR`` says that on 31 January 2026
one PKR was worth 0.0031 EUR (without ``--base``: one unit of the workspace's
reporting currency, the setting ``currency``); ``crmbook rates import FILE`` reads a
CSV or XLSX file of currency, date, rate (and base) columns, all rows or none;
``crmbook rates list [--currency X]`` shows them and ``crmbook rates remove EUR
2026-01-31 [--base PKR]`` removes one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crm_core.cli import DEFAULT_WORKSPACE, WorkspaceOption, _print_frame, acting, app, fail, say
from crm_core.errors import ValidationError

rates_app = typer.Typer(
    help="Exchange rates: on a date, one base currency is worth RATE of a currency.",
    no_args_is_help=True,
)
app.add_typer(rates_app, name="rates")

BaseOption = Annotated[
    str | None,
    typer.Option(
        "--base", help="The currency one unit of which RATE is given for (default: reporting)."
    ),
]
#: The most refused rows an import prints (the count says how many more there are).
SHOWN_REFUSALS = 50


# A rate typed with a leading minus (-1) is an argument, for the rate's own refusal to
# name it, not an unknown option (ignore_unknown_options: click reads "-1" as a value).
@rates_app.command("set", context_settings={"ignore_unknown_options": True})
def set_rate(
    currency: Annotated[str, typer.Argument(help="ISO 4217 code, e.g. EUR.")],
    day: Annotated[str, typer.Argument(help="The date the rate is of, YYYY-MM-DD.")],
    rate: Annotated[str, typer.Argument(help="Units of CURRENCY one unit of the base is worth.")],
    base: BaseOption = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Set the rate of CURRENCY on DAY (replacing the one the pair had that day)."""
    with acting(workspace) as ws:
        row = ws.rates.set(currency, day, rate, base=base)
    say(f"1 {row['base']} = {row['rate']} {row['currency']} on {row['day'].isoformat()}")


@rates_app.command("remove")
def remove_rate(
    currency: Annotated[str, typer.Argument(help="ISO 4217 code, e.g. EUR.")],
    day: Annotated[str, typer.Argument(help="The date of the rate, YYYY-MM-DD.")],
    base: BaseOption = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Remove the rate of CURRENCY on DAY (a rate typed by mistake)."""
    with acting(workspace) as ws:
        ws.rates.remove(currency, day, base=base)
    say(f"removed the rate of {currency.upper()} on {day}")


@rates_app.command("import")
def import_rates(
    file: Annotated[Path, typer.Argument(help="CSV (any encoding, any delimiter) or XLSX.")],
    base: BaseOption = None,
    sheet: Annotated[str | None, typer.Option(help="The sheet of an XLSX file.")] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            help="Write the refused rows there, with why: nothing is imported, so fix"
            " them in FILE and import FILE again."
        ),
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Import the rates of FILE (columns currency, date, rate and optionally base):
    every row, or none when any is refused (each refusal is printed with its line)."""
    with acting(workspace) as ws:
        try:
            changes = ws.rates.import_file(file, base=base, sheet=sheet, rejects=rejects)
        except ValidationError as exc:
            for error in exc.errors[:SHOWN_REFUSALS]:
                say(str(error))
            more = len(exc.errors) - SHOWN_REFUSALS
            if more > 0:
                say(f"... and {more} more")
            if rejects is not None:
                say(
                    f"the refused rows, with why, are in {rejects}; fix them in {file} and"
                    f" import {file} again (its other rows were not imported either)"
                )
            fail(f"{len(exc.errors)} refused value(s) in {file}; nothing was imported")
    say(
        f"{changes.added} rate(s) added, {changes.changed} changed, "
        f"{changes.unchanged} unchanged from {file}"
    )


@rates_app.command("list")
def list_rates(
    currency: Annotated[
        str | None, typer.Option(help="Only the rates of this currency (either side).")
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """The rates, by date then currency."""
    with acting(workspace) as ws:
        frame = ws.rates.list(currency)
    if frame.empty:
        say("no exchange rate" + (f" for {currency}" if currency else ""))
        return
    frame = frame.assign(
        day=frame["day"].map(lambda d: d.isoformat()),
        rate=frame["rate"].map(lambda r: format(r, "f")),
    ).drop(columns=["recorded_at"])
    _print_frame(frame, title=f"{len(frame)} exchange rate(s)")
