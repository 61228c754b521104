"""Plumbing every admin API shares: resource names, paging, timestamps, workspace auth."""
