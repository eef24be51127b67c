"""``preopen calendar ...``: the calendar's answers, as a table or JSON."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from preopen.cli._common import BadInputError, console, parse_date, print_json
from preopen.errors import SettingsError

if TYPE_CHECKING:
    import datetime as dt

__all__ = ["app"]

app = typer.Typer(help="Answer calendar questions.")

ExchangeOption = Annotated[
    str | None,
    typer.Option(
        "--exchange",
        help="XNYS, XTKS, XHKG, xcals:CODE (exchange_calendars), or a calendar TOML file.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ConfigOption = Annotated[
    str | None, typer.Option("--config", help="A settings TOML file (for the window).")
]


_DEFAULT_EXCHANGE = "XNYS"
_DEFAULT_WINDOW_MINUTES = 60
_MAX_WINDOW_MINUTES = 24 * 60


def _read_config(config: str) -> dict[str, Any]:
    """The settings table of a TOML file; only ``exchange`` and ``window_minutes`` are read."""
    import tomllib  # noqa: PLC0415 - only when a file is given

    try:
        data = tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInputError("--config", config, f"a readable TOML file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise BadInputError("--config", config, "a TOML file in UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise BadInputError("--config", config, f"valid TOML ({exc})") from None
    table = data.get("preopen", data)
    return table if isinstance(table, dict) else {}


def _calendar_setting(
    key: str, flag: object, config: dict[str, Any] | None, config_name: str | None
) -> tuple[object, str] | None:
    """A value and where it came from: the flag, else ``PREOPEN_KEY``, else the file."""
    if flag is not None:
        return flag, f"--{key.replace('_', '-')}"
    env_name = f"PREOPEN_{key.upper()}"
    if env_name in os.environ:
        return os.environ[env_name], env_name
    if config is not None and key in config:
        return config[key], str(config_name)
    return None


def _calendar_and_window(
    exchange: str | None, config: str | None, window_minutes: str | None
) -> tuple[Any, dt.timedelta]:
    """The calendar and prefetch window, reading only the two settings they need.

    A ``calendar`` command does not build the whole Settings, so a setting it
    does not use (``PREOPEN_STORE=garbage``) cannot make it fail. Precedence
    is the settings' own: flag, then ``PREOPEN_*``, then the file, then the default.
    """
    import datetime as dt  # noqa: PLC0415

    from preopen.calendar import get_calendar  # noqa: PLC0415 - light

    table = None if config is None else _read_config(config)
    found = _calendar_setting("exchange", exchange, table, config)
    name = _DEFAULT_EXCHANGE if found is None else found[0]
    if not isinstance(name, str) or not name.strip():
        assert found is not None  # noqa: S101 - the default is a string
        raise SettingsError("exchange", name, "a calendar name or a TOML file", source=found[1])
    calendar = get_calendar(name)
    found = _calendar_setting("window_minutes", window_minutes, table, config)
    minutes = _DEFAULT_WINDOW_MINUTES if found is None else found[0]
    gap = int(calendar.shortest_break.total_seconds() // 60)
    bound = min(_MAX_WINDOW_MINUTES, gap)
    accepted = (
        f"a whole number from 1 to {bound} (the shortest gap between two "
        f"{calendar.name} sessions)"
        if bound < _MAX_WINDOW_MINUTES
        else f"a whole number from 1 to {bound}"
    )
    source = "" if found is None else found[1]
    if isinstance(minutes, str):
        try:
            minutes = int(minutes.strip())
        except ValueError:
            raise SettingsError("window_minutes", minutes, accepted, source=source) from None
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= bound:
        raise SettingsError("window_minutes", minutes, accepted, source=source)
    return calendar, dt.timedelta(minutes=minutes)


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
        typer.Option(
            "--window-minutes",
            help=(
                "The prefetch window, 1 up to the shortest gap between two sessions "
                "(XNYS: 1050); default: settings."
            ),
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,  # noqa: FBT002 - a CLI flag
) -> None:
    """The next session: open, break, close, prefetch start and the calendar's horizon."""
    from preopen.calendar.timing import prefetch_start, sessions_before_horizon  # noqa: PLC0415

    calendar, window = _calendar_and_window(exchange, config, window_minutes)
    if after is not None:
        session = calendar.next_session(parse_date("--after", after))
    else:
        session = calendar.local_date(calendar.next_open(_now()))
    pause = calendar.breaks(session)
    row = {
        "exchange": calendar.name,
        "session": session.isoformat(),
        "open": calendar.open_at(session).isoformat(),
        "break_start": None if pause is None else pause[0].isoformat(),
        "break_end": None if pause is None else pause[1].isoformat(),
        "close": calendar.close_at(session).isoformat(),
        "prefetch_start": prefetch_start(calendar, session, window).isoformat(),
        "timezone": calendar.timezone,
        "horizon": calendar.horizon.isoformat(),
        "sessions_before_horizon": sessions_before_horizon(calendar, session),
    }
    if as_json:
        print_json(row)
        return
    table = Table(title=f"next {calendar.name} session", show_header=False)
    table.add_column("what")
    table.add_column("when")
    for key, value in row.items():
        text = "none" if value is None else str(value)
        table.add_row(key.replace("_", " "), text)
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
    rows = []
    for d in calendar.sessions(first, last):
        pause = calendar.breaks(d)
        rows.append(
            {
                "session": d.isoformat(),
                "open": calendar.open_at(d).isoformat(),
                "break": None if pause is None else [p.isoformat() for p in pause],
                "close": calendar.close_at(d).isoformat(),
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"{calendar.name} sessions {first}..{last}: {len(rows)}")
    for key in ("session", "open", "break", "close"):
        table.add_column(key)
    for row in rows:
        pause = row["break"]
        shown = "" if pause is None else f"{pause[0][11:16]}-{pause[1][11:16]}"
        table.add_row(str(row["session"]), str(row["open"]), shown, str(row["close"]))
    console.print(table)


def _whole(option: str, text: str, accepted: str = "a whole number") -> int:
    try:
        return int(text)
    except ValueError:
        raise BadInputError(option, text, accepted) from None


def _year(text: str) -> int:
    return _whole("YEAR", text, "a year such as 2025")


@app.command("export")
def export(
    code: Annotated[
        str, typer.Argument(help="An exchange_calendars code, e.g. XTKS (xcals: prefix optional).")
    ],
    to: Annotated[str, typer.Option("--to", help="The TOML file to write.")],
    start: Annotated[str, typer.Option("--start", help="The first date (YYYY-MM-DD).")],
    end: Annotated[
        str, typer.Option("--end", help="The last date (YYYY-MM-DD): the calendar's horizon.")
    ],
) -> None:
    """Write an exchange_calendars calendar as a TOML file of explicit dates.

    The file is read by preopen's own TOML reader (``--exchange FILE.toml``), so
    a host runs without exchange_calendars; its horizon is ``--end``.
    """
    from importlib.metadata import version  # noqa: PLC0415

    from preopen.calendar import exchange_calendars_spec, spec_to_toml  # noqa: PLC0415

    first, last = parse_date("--start", start), parse_date("--end", end)
    if last < first:
        raise BadInputError("--end", end, f"a date on or after --start ({start})")
    spec = exchange_calendars_spec(code, first, last)
    header = (
        f"{spec.name}: exported by `preopen calendar export {spec.name} --start {start} "
        f"--end {end}`\nfrom exchange_calendars {version('exchange_calendars')}. "
        "Explicit dates: every weekday\nthat is not a session is a closure; the horizon is the "
        "last date it is sure of."
    )
    try:
        Path(to).write_text(spec_to_toml(spec, header), encoding="utf-8")
    except OSError as exc:
        raise BadInputError("--to", to, f"a file that can be written ({exc.strerror})") from None
    console.print(
        f"wrote {to}: {spec.name} {first}..{last}, {len(spec.closures)} closures, "
        f"{len(spec.early_closes)} early closes, {len(spec.hours_changes)} change(s) of hours"
    )


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
