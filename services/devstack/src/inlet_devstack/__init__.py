"""Local stack launcher: embedded PostgreSQL, migrations, every service, a demo credential."""
