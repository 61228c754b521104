"""A mixed load over every dialect with a ledger of what was acknowledged (chaos and soak)."""
