"""`inlet webhooks …`: webhook endpoints, their deliveries and attempts, replay and recover."""
