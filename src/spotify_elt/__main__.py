"""``python -m spotify_elt``: the same as the ``spotify-elt`` command."""

from .cli import entry_point

if __name__ == "__main__":
    entry_point()
