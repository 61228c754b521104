"""The admin API: workspaces, entity types, endpoints and records; streams; integrations;
push sessions; and the credentials of each — use cases and their servicers."""
