"""``Idempotency-Key`` for our own money-moving API calls."""
