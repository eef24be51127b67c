"""Settings: defaults, a TOML file, ``PREOPEN_*`` environment variables.

Precedence, lowest first: the defaults < a TOML file < ``PREOPEN_*``
environment variables < explicit keyword arguments (the CLI's flags). Every
value is checked when a :class:`Settings` is built; a refused value raises
one :class:`~preopen.errors.SettingsError` naming the key, the value, where
it came from and what is accepted.

``_settings.py`` holds :class:`Settings` and its loading, ``_values.py`` the
per-type coercion and parsing, ``_rules.py`` what each value may be.
"""

from __future__ import annotations

from preopen.settings._settings import ENV_PREFIX, Settings
from preopen.settings._values import redact

__all__ = ["ENV_PREFIX", "Settings", "redact"]
