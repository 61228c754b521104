"""Shared runtime pieces of inlet's services: config, logs, errors and gRPC serving."""
