"""The fault simulator: seeded schedules of money-moving operations with faults injected,
checked once their jobs have settled (docs/fault.md)."""
