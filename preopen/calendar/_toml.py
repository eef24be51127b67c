"""Calendars described in a TOML file.

The format (every key is checked; an unknown key is an error, to catch
typos). Times are ``"HH:MM"`` strings or TOML local times, dates are
``"YYYY-MM-DD"`` strings or TOML local dates, weekdays are English names::

    name = "XLON"                    # required: the exchange's code
    timezone = "Europe/London"       # required: an IANA zone
    open = "08:00"                   # required: regular local open
    close = "16:30"                  # required: regular local close (same day)
    break_start = "11:30"            # optional: a midday break (both ends or none)
    break_end = "12:30"
    premarket_open = "05:05"         # optional, defaults to open
    afterhours_close = "17:15"       # optional, defaults to close
    weekend = ["saturday", "sunday"] # optional, this is the default
    first_year = 1990                # required: the supported years
    last_year = 2099
    first_date = "1990-01-02"        # optional: the first date answered (in first_year)
    horizon = "2099-12-31"           # optional: the last date the calendar is sure of
                                     #   (in last_year; default December 31)
    closures = ["2011-04-29"]        # optional: ad-hoc closures (weekdays, in range)
    early_closes = {"1999-12-30" = "12:30"}   # optional: ad-hoc early closes; one at
                                     #   or before the break's end drops the break

    [[hours]]                        # optional: regular hours from a date on
    since = "2024-11-05"             # the first date they apply
    open = "09:00"                   # open and close required;
    close = "15:30"                  # break_start/break_end optional (none: no break)
    break_start = "11:30"
    break_end = "12:30"

    [[holidays]]                     # a rule, applied in file order
    name = "Easter Monday"
    easter_offset = 1                # EITHER easter_offset
    # month = 12, day = 25           # OR a fixed month and day
    # month = 5, weekday = "monday", nth = -1   # OR the nth weekday (-1 = last)
    offset_days = 0                  # optional: days added to that date
    weekdays = ["monday"]            # optional: only when the date falls on these
    observance = "none"              # optional: none | sunday_to_monday |
                                     #   nearest_weekday | next_weekday | previous_weekday
    first_year = 1990                # optional: years the rule applies in
    last_year = 2099
    except_years = [2020]            # optional: years it does not apply in

    [[early_close_rules]]            # the same rule keys, plus the close time
    name = "Christmas Eve"
    close = "12:30"
    month = 12
    day = 24
    observance = "previous_weekday"

Any error raises :class:`~preopen.errors.CalendarFileError` naming the file
and the key.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from preopen.calendar._hours import Hours
from preopen.calendar._rules import WEEKDAY_NAMES, HolidayRule, Observance, RuleKind
from preopen.calendar._spec import CalendarSpec, EarlyCloseRule
from preopen.errors import CalendarFileError

__all__ = ["load_spec"]

_TOP_KEYS = frozenset(
    {
        "name", "timezone", "open", "close", "premarket_open", "afterhours_close", "weekend",
        "first_year", "last_year", "closures", "early_closes", "holidays", "early_close_rules",
        "break_start", "break_end", "first_date", "horizon", "hours",
    }
)
_HOURS_KEYS = frozenset({"since", "open", "close", "break_start", "break_end"})
_RULE_KEYS = frozenset(
    {
        "name", "month", "day", "weekday", "nth", "easter_offset", "offset_days", "weekdays",
        "observance", "first_year", "last_year", "except_years",
    }
)
_OBSERVANCES = ", ".join(o.value for o in Observance)


class _Reader:
    """Reads typed values out of the parsed TOML, naming the key on error."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, value: object, accepted: str) -> CalendarFileError:
        return CalendarFileError(self.path, f"{key}={value!r} is not accepted: {accepted}")

    def text(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(key, value, "a non-empty string")
        return value.strip()

    def integer(self, key: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, value, "an integer")
        return value

    def time(self, key: str, value: object) -> dt.time:
        if isinstance(value, dt.time):
            return value
        if isinstance(value, str):
            try:
                parsed = dt.time.fromisoformat(value.strip())
            except ValueError:
                pass
            else:
                if parsed.tzinfo is None:
                    return parsed
        raise self.fail(key, value, 'a local time "HH:MM"')

    def date(self, key: str, value: object) -> dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.fail(key, value, 'a date "YYYY-MM-DD"')

    def weekday(self, key: str, value: object) -> int:
        if isinstance(value, str) and value.strip().lower() in WEEKDAY_NAMES:
            return WEEKDAY_NAMES.index(value.strip().lower())
        raise self.fail(key, value, f"a weekday name ({', '.join(WEEKDAY_NAMES)})")

    def items(self, key: str, value: object) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(key, value, "a list")
        return value

    def table(self, key: str, value: object) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, value, "a table")
        return value

    def known_keys(self, where: str, table: dict[str, Any], known: frozenset[str]) -> None:
        unknown = sorted(set(table) - known)
        if unknown:
            key = f"{where}.{unknown[0]}" if where else unknown[0]
            raise CalendarFileError(
                self.path, f"{key} is not a known key: accepted are {', '.join(sorted(known))}"
            )

    def required(self, where: str, table: dict[str, Any], key: str) -> object:
        if key not in table:
            name = f"{where}.{key}" if where else key
            raise CalendarFileError(self.path, f"{name} is missing")
        return table[key]

    def rule(self, where: str, table: dict[str, Any]) -> HolidayRule:
        """One ``[[holidays]]`` or ``[[early_close_rules]]`` entry as a rule."""
        name = self.text(f"{where}.name", self.required(where, table, "name"))
        kind, fields = self._rule_date(where, table)
        fields.update(self._rule_options(where, table))
        try:
            return HolidayRule(name, kind, **fields)
        except ValueError as exc:
            raise CalendarFileError(self.path, f"{where}: {exc}") from None

    def _rule_date(self, where: str, table: dict[str, Any]) -> tuple[RuleKind, dict[str, Any]]:
        """Which kind of nominal date a rule has, and its defining fields."""
        if "easter_offset" in table:
            extra = sorted({"month", "day", "weekday", "nth"} & set(table))
            if extra:
                raise CalendarFileError(
                    self.path, f"{where}.{extra[0]} cannot be given with {where}.easter_offset"
                )
            offset = self.integer(f"{where}.easter_offset", table["easter_offset"])
            return RuleKind.EASTER, {"easter_offset": offset}
        month = self.integer(f"{where}.month", self.required(where, table, "month"))
        if "weekday" in table or "nth" in table:
            if "day" in table:
                raise CalendarFileError(
                    self.path, f"{where}.day cannot be given with {where}.weekday and nth"
                )
            weekday = self.weekday(f"{where}.weekday", self.required(where, table, "weekday"))
            nth = self.integer(f"{where}.nth", self.required(where, table, "nth"))
            return RuleKind.NTH_WEEKDAY, {"month": month, "weekday": weekday, "nth": nth}
        day = self.integer(f"{where}.day", self.required(where, table, "day"))
        return RuleKind.FIXED, {"month": month, "day": day}

    def _rule_options(self, where: str, table: dict[str, Any]) -> dict[str, Any]:
        """A rule's optional fields: offset, weekdays, observance, years."""
        fields: dict[str, Any] = {}
        if "offset_days" in table:
            fields["offset_days"] = self.integer(f"{where}.offset_days", table["offset_days"])
        if "weekdays" in table:
            fields["weekdays"] = frozenset(
                self.weekday(f"{where}.weekdays", w)
                for w in self.items(f"{where}.weekdays", table["weekdays"])
            )
        if "observance" in table:
            value = table["observance"]
            try:
                fields["observance"] = Observance(value)
            except ValueError:
                raise self.fail(f"{where}.observance", value, f"one of {_OBSERVANCES}") from None
        for key in ("first_year", "last_year"):
            if key in table:
                fields[key] = self.integer(f"{where}.{key}", table[key])
        if "except_years" in table:
            fields["except_years"] = frozenset(
                self.integer(f"{where}.except_years", y)
                for y in self.items(f"{where}.except_years", table["except_years"])
            )
        return fields


def _parse(reader: _Reader, doc: dict[str, Any]) -> CalendarSpec:
    reader.known_keys("", doc, _TOP_KEYS)
    weekend = frozenset({5, 6})
    if "weekend" in doc:
        weekend = frozenset(
            reader.weekday("weekend", w) for w in reader.items("weekend", doc["weekend"])
        )
    holidays = []
    for i, entry in enumerate(reader.items("holidays", doc.get("holidays", []))):
        where = f"holidays[{i}]"
        table = reader.table(where, entry)
        reader.known_keys(where, table, _RULE_KEYS)
        holidays.append(reader.rule(where, table))
    early_rules = []
    for i, entry in enumerate(reader.items("early_close_rules", doc.get("early_close_rules", []))):
        where = f"early_close_rules[{i}]"
        table = reader.table(where, entry)
        reader.known_keys(where, table, _RULE_KEYS | {"close"})
        close = reader.time(f"{where}.close", reader.required(where, table, "close"))
        early_rules.append(EarlyCloseRule(reader.rule(where, table), close))
    hours = []
    for i, entry in enumerate(reader.items("hours", doc.get("hours", []))):
        where = f"hours[{i}]"
        table = reader.table(where, entry)
        reader.known_keys(where, table, _HOURS_KEYS)
        times = {
            key: reader.time(f"{where}.{key}", table[key])
            for key in ("open", "close", "break_start", "break_end") if key in table
        }
        for key in ("since", "open", "close"):
            reader.required(where, table, key)
        try:
            hours.append(Hours(since=reader.date(f"{where}.since", table["since"]), **times))
        except ValueError as exc:
            raise CalendarFileError(reader.path, f"{where}: {exc}") from None
    closures = frozenset(
        reader.date("closures", d) for d in reader.items("closures", doc.get("closures", []))
    )
    early_closes = {
        reader.date("early_closes", d): reader.time(f"early_closes.{d}", t)
        for d, t in reader.table("early_closes", doc.get("early_closes", {})).items()
    }
    optional: dict[str, Any] = {
        key: reader.time(key, doc[key])
        for key in ("premarket_open", "afterhours_close", "break_start", "break_end")
        if key in doc
    }
    optional.update(
        (key, reader.date(key, doc[key])) for key in ("first_date", "horizon") if key in doc
    )
    try:
        return CalendarSpec(
            name=reader.text("name", reader.required("", doc, "name")),
            timezone=reader.text("timezone", reader.required("", doc, "timezone")),
            open=reader.time("open", reader.required("", doc, "open")),
            close=reader.time("close", reader.required("", doc, "close")),
            weekend=weekend,
            first_year=reader.integer("first_year", reader.required("", doc, "first_year")),
            last_year=reader.integer("last_year", reader.required("", doc, "last_year")),
            holidays=tuple(holidays),
            closures=closures,
            early_close_rules=tuple(early_rules),
            early_closes=early_closes,
            hours_changes=tuple(hours),
            **optional,
        )
    except ValueError as exc:
        raise CalendarFileError(reader.path, str(exc)) from None


def load_spec(path: str | Path) -> CalendarSpec:
    """Read and check the calendar description in a TOML file.

    Args:
        path: the file.

    Returns:
        The description.

    Raises:
        CalendarFileError: the file cannot be read, is not TOML, or a key is
            missing, unknown or has a value that is not accepted.
    """
    import tomllib  # noqa: PLC0415 - only TOML calendars pay for the parser

    name = str(path)
    try:
        with Path(path).open("rb") as handle:
            doc = tomllib.load(handle)
    except OSError as exc:
        raise CalendarFileError(name, f"cannot be read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CalendarFileError(name, f"is not valid TOML: {exc}") from exc
    return _parse(_Reader(name), doc)
