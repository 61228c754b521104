"""inlet notifier: webhook subscriptions and signed, retried delivery (delivery: issue 5)."""
