"""The billing back office: bills, payment runs, dunning (docs/billing.md)."""
