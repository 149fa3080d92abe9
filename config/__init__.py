"""booksync's configuration: every setting is read here, from the environment, once."""

from config.settings import Settings, SettingsError, get_settings

__all__ = ["Settings", "SettingsError", "get_settings"]
