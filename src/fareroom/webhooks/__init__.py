"""Gateway webhooks: verified, stored once per event id, applied idempotently."""
