"""Delivering webhooks: claim due deliveries, POST them signed, book the outcomes in batches."""

from inlet_notifier.delivery.attempts import Result, retry_after_seconds, signing_secrets
from inlet_notifier.delivery.worker import Worker

__all__ = ["Result", "Worker", "retry_after_seconds", "signing_secrets"]
