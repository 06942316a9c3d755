"""``python -m payouts.stripe_sim``: run the simulator as a process.

Defaults come from ``STRIPE_SIM_HOST``, ``STRIPE_SIM_PORT``, ``STRIPE_WEBHOOK_URL``
and ``STRIPE_WEBHOOK_SECRET`` so a Procfile or Makefile can share the app's
settings. One line with the address is printed once the port is open, so a
supervisor (or a script waiting on stdout) knows when to go on.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from .simulator import StripeSimulator


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m payouts.stripe_sim", description=__doc__)
    parser.add_argument("--host", default=env.get("STRIPE_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("STRIPE_SIM_PORT", "12111")))
    parser.add_argument("--webhook-url", default=env.get("STRIPE_WEBHOOK_URL") or None)
    parser.add_argument("--webhook-secret", default=env.get("STRIPE_WEBHOOK_SECRET") or None)
    parser.add_argument(
        "--webhook-backoff",
        type=float,
        default=1.0,
        help="seconds before the first retry; doubles each time (default 1)",
    )
    parser.add_argument("--webhook-max-attempts", type=int, default=8)
    parser.add_argument("--payout-settlement", choices=("immediate", "manual"), default="immediate")
    parser.add_argument(
        "--card-fee",
        default="0,0",
        help="processing fee on checkout payments as 'basis_points,fixed' (Stripe US: 290,30)",
    )
    parser.add_argument(
        "--charges-pending",
        action="store_true",
        help="card payments land in pending until POST /_sim/balance/release",
    )
    parser.add_argument(
        "--public-url",
        default=None,
        help="base URL to put in hosted-page links if not http://HOST:PORT",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        fee_bp, fee_fixed = (int(part) for part in args.card_fee.split(","))
    except ValueError:
        print("--card-fee must look like 290,30", file=sys.stderr)
        return 2
    sim = StripeSimulator(
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_backoff=args.webhook_backoff,
        webhook_max_attempts=args.webhook_max_attempts,
        payout_settlement=args.payout_settlement,
        card_fee_bp=fee_bp,
        card_fee_fixed=fee_fixed,
        charges_pending=args.charges_pending,
        public_url=args.public_url,
        verbose=args.verbose,
    )
    if args.webhook_url and not args.webhook_secret:
        print(
            "warning: --webhook-url without --webhook-secret: events will not be delivered",
            file=sys.stderr,
        )

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    sim.start()
    webhook = args.webhook_url if sim.dispatcher.enabled else "off"
    print(f"Stripe simulator listening on {sim.base_url} (webhooks: {webhook})", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
