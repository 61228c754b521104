"""The store's outbox, taken by the notifier itself: events become deliveries in one statement."""
