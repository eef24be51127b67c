"""``preopen calendar ...``: the calendar's answers, as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from preopen.cli._common import BadInputError, console, parse_date, print_json

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["app"]

app = typer.Typer(help="Answer calendar questions.")

ExchangeOption = Annotated[
    str | None, typer.Option("--exchange", help="XNYS, or the path of a calendar TOML file.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="A settings TOML file (for the window).")
]


def _calendar_and_window(
    exchange: str | None, config: str | None, window_minutes: int | None
) -> tuple[Any, dt.timedelta]:
    from preopen.calendar import get_calendar  # noqa: PLC0415 - light; settings are heavier
    from preopen.settings import Settings  # noqa: PLC0415

    settings = Settings.load(config, exchange=exchange, window_minutes=window_minutes)
    return get_calendar(settings.exchange), settings.window


def _now() -> dt.datetime:
    from preopen.clock import SystemClock  # noqa: PLC0415 - the only wall clock is the Clock's

    return SystemClock().now()


@app.command("next")
def next_session(
    after: Annotated[
        str | None,
        typer.Option("--after", help="Answer for the first session after this date (YYYY-MM-DD)."),
    ] = None,
    exchange: ExchangeOption = None,
    window_minutes: Annotated[
        str | None,
        typer.Option("--window-minutes", help="The prefetch window (default: settings)."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,  # noqa: FBT002 - a CLI flag
) -> None:
    """The next session: its open, close and prefetch start, in the exchange's time zone."""
    from preopen.calendar.timing import prefetch_start  # noqa: PLC0415

    minutes = None if window_minutes is None else _whole("--window-minutes", window_minutes)
    calendar, window = _calendar_and_window(exchange, config, minutes)
    if after is not None:
        session = calendar.next_session(parse_date("--after", after))
    else:
        session = calendar.next_open(_now()).date()
    row = {
        "exchange": calendar.name,
        "session": session.isoformat(),
        "open": calendar.open_at(session).isoformat(),
        "close": calendar.close_at(session).isoformat(),
        "prefetch_start": prefetch_start(calendar, session, window).isoformat(),
        "timezone": calendar.timezone,
    }
    if as_json:
        print_json(row)
        return
    table = Table(title=f"next {calendar.name} session", show_header=False)
    table.add_column("what")
    table.add_column("when")
    for key, value in row.items():
        table.add_row(key.replace("_", " "), value)
    console.print(table)


@app.command("sessions")
def sessions(
    start: Annotated[str, typer.Argument(help="First date (YYYY-MM-DD), inclusive.")],
    end: Annotated[str, typer.Argument(help="Last date (YYYY-MM-DD), inclusive.")],
    exchange: ExchangeOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,  # noqa: FBT002 - a CLI flag
) -> None:
    """Every session between two dates, with its open and close."""
    calendar, _ = _calendar_and_window(exchange, config, None)
    first, last = parse_date("START", start), parse_date("END", end)
    if last < first:
        raise BadInputError("END", end, f"a date on or after START ({start})")
    rows = [
        {
            "session": d.isoformat(),
            "open": calendar.open_at(d).isoformat(),
            "close": calendar.close_at(d).isoformat(),
        }
        for d in calendar.sessions(first, last)
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{calendar.name} sessions {first}..{last}: {len(rows)}")
    for key in ("session", "open", "close"):
        table.add_column(key)
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


def _whole(option: str, text: str, accepted: str = "a whole number") -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInputError(option, text, accepted) from None


def _year(text: str) -> int:
    return _whole("YEAR", text, "a year such as 2025")


@app.command("holidays")
def holidays(
    year: Annotated[str, typer.Argument(help="The year, e.g. 2025.")],
    exchange: ExchangeOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,  # noqa: FBT002 - a CLI flag
) -> None:
    """The weekdays of a year on which the exchange is closed."""
    calendar, _ = _calendar_and_window(exchange, config, None)
    days = calendar.holidays(_year(year))
    if as_json:
        print_json([d.isoformat() for d in days])
        return
    table = Table(title=f"{calendar.name} holidays {year}")
    table.add_column("date")
    table.add_column("weekday")
    for d in days:
        table.add_row(d.isoformat(), d.strftime("%A"))
    console.print(table)


@app.command("early-closes")
def early_closes(
    year: Annotated[str, typer.Argument(help="The year, e.g. 2025.")],
    exchange: ExchangeOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,  # noqa: FBT002 - a CLI flag
) -> None:
    """The sessions of a year that close early, with their close."""
    calendar, _ = _calendar_and_window(exchange, config, None)
    closes = calendar.early_closes(_year(year))
    if as_json:
        print_json({d.isoformat(): t.isoformat() for d, t in closes.items()})
        return
    table = Table(title=f"{calendar.name} early closes {year}")
    table.add_column("date")
    table.add_column("weekday")
    table.add_column("close")
    for d, t in closes.items():
        table.add_row(d.isoformat(), d.strftime("%A"), t.strftime("%H:%M"))
    console.print(table)
