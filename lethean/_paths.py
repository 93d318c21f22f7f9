"""
Where lethean keeps its files by default: the XDG locations the Go
reference uses, under ``lethean-desktop``.

An ``$XDG_*_HOME`` variable wins when it holds an absolute path (a relative
one is invalid by the XDG spec and ignored); otherwise platformdirs gives
the platform's folder (``~/.config`` and ``~/.local/share`` on Linux).
"""

import os

__all__ = ["APP_DIRECTORY", "config_path", "data_path"]

#: The folder name the reference uses in both XDG homes.
APP_DIRECTORY = "lethean-desktop"


def _xdg_home(variable: str, platform_default: str) -> str:
    value = os.path.expanduser(os.environ.get(variable, ""))
    if value and os.path.isabs(value):
        return value
    import platformdirs
    home: str = getattr(platformdirs, platform_default)()
    return home


def config_path(*parts: str) -> str:
    """``<XDG config home>/lethean-desktop/<parts>``."""
    return os.path.join(_xdg_home("XDG_CONFIG_HOME", "user_config_dir"), APP_DIRECTORY, *parts)


def data_path(*parts: str) -> str:
    """``<XDG data home>/lethean-desktop/<parts>``."""
    return os.path.join(_xdg_home("XDG_DATA_HOME", "user_data_dir"), APP_DIRECTORY, *parts)
