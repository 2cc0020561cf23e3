"""Shared building blocks: money, clock, ids, errors, database base. Imports no domain."""
