"""The `inlet` command: the admin API for people (tables) and scripts (--json)."""
