"""`inlet integrations …`, `inlet project-tokens …`, `inlet client-tokens …`: integration ingest."""
