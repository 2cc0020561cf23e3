"""Businesses (tenants), users and roles, API keys, sign-in."""
