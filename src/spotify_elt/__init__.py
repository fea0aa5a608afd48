"""spotify-elt: the application (CLI, configuration, vault, database, pipeline steps)."""
