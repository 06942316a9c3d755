"""A local Stripe for development and tests: ``StripeSimulator``.

Stripe cannot be reached from Fairtask's development and CI machines, so this
package speaks the parts of Stripe's API Fairtask uses (Checkout, Connect
accounts and onboarding, transfers, payouts, balance, events, signed webhooks,
idempotency) over HTTP. The application talks to it through the official
``stripe`` library with only the API base changed, so the same code runs
against real Stripe. Standard library only; no Django.
"""

from .engine import DEFAULT_API_VERSION
from .faults import Fault
from .simulator import StripeSimulator
from .webhooks import Delivery, sign

__all__ = ["DEFAULT_API_VERSION", "Delivery", "Fault", "StripeSimulator", "sign"]
