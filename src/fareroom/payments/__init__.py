"""Payments: charges, holds, captures, cancels, refunds, payouts, Connect onboarding."""
