"""``python -m spotify_elt``: the same as the ``spotify-elt`` command."""

from .cli import entry_point

entry_point()
