"""Double-entry ledger: the only writer of balances."""
