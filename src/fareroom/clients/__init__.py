"""Clients of a business and their saved cards."""
