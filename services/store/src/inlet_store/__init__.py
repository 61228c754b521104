"""inlet store: owns PostgreSQL; applies plans in one transaction; serves the admin API."""
