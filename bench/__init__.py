"""Benchmarks of the whole inlet suite against raw PostgreSQL ceilings (`make bench`)."""
