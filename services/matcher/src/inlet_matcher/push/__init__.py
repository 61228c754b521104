"""Endpoint push: validate, normalise and plan over a cached schema; one store call."""
