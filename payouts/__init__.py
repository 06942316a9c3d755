"""Money: the ledger, fees, escrow, settlement, Stripe, withdrawals. The bottom layer:
it knows accounts, amounts and external references, never projects or assignments."""
