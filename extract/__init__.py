"""The Spotify extraction library: dlt source, emulator, history importer."""
