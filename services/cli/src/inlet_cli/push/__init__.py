"""`inlet api-keys …` and `inlet sessions …`: push transfer's keys, sessions and activity log."""
