"""``python -m payouts.stripe_sim``: run the simulator as a process.

Defaults come from ``STRIPE_SIM_HOST``, ``STRIPE_SIM_PORT``, ``STRIPE_SIM_API_KEYS``
(comma-separated), ``STRIPE_WEBHOOK_URL``, ``STRIPE_WEBHOOK_SECRET``,
``STRIPE_CONNECT_WEBHOOK_URL``, ``STRIPE_CONNECT_WEBHOOK_SECRET`` and
``STRIPE_SIM_STATE`` so a Procfile or Makefile can share the app's settings. One line with the address is printed once the port is open, so a
supervisor (or a script waiting on stdout) knows when to go on.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from types import FrameType

from .engine import STRIPE_AVAILABLE_DELAY, STRIPE_US_CARD_FEE_BP, STRIPE_US_CARD_FEE_FIXED
from .simulator import DEFAULT_API_KEY, StripeSimulator


def _parser() -> argparse.ArgumentParser:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m payouts.stripe_sim", description=__doc__)
    parser.add_argument("--host", default=env.get("STRIPE_SIM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("STRIPE_SIM_PORT", "12111")))
    parser.add_argument(
        "--api-key",
        action="append",
        default=None,
        help="a secret test key to accept; repeat for several accounts "
        f"(default {DEFAULT_API_KEY}); any other key gets 401",
    )
    parser.add_argument("--webhook-url", default=env.get("STRIPE_WEBHOOK_URL") or None)
    parser.add_argument("--webhook-secret", default=env.get("STRIPE_WEBHOOK_SECRET") or None)
    parser.add_argument(
        "--connect-webhook-url",
        default=env.get("STRIPE_CONNECT_WEBHOOK_URL") or None,
        help="Connect endpoint (connected accounts' events); default: --webhook-url",
    )
    parser.add_argument(
        "--connect-webhook-secret",
        default=env.get("STRIPE_CONNECT_WEBHOOK_SECRET") or None,
        help="signing secret of the Connect endpoint; default: --webhook-secret",
    )
    parser.add_argument(
        "--state",
        default=env.get("STRIPE_SIM_STATE") or None,
        help="JSON file to keep the state in across restarts (default: memory only)",
    )
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
        default=f"{STRIPE_US_CARD_FEE_BP},{STRIPE_US_CARD_FEE_FIXED}",
        help="processing fee on checkout payments as 'basis_points,fixed' (default Stripe US: "
        "290,30; 0,0 for none)",
    )
    parser.add_argument(
        "--available-delay",
        type=int,
        default=int(env.get("STRIPE_SIM_AVAILABLE_DELAY", STRIPE_AVAILABLE_DELAY)),
        help="seconds until card payments are available (pending before; default 2 days)",
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
    env_keys = os.environ.get("STRIPE_SIM_API_KEYS", "")
    try:
        fee_bp, fee_fixed = (int(part) for part in args.card_fee.split(","))
    except ValueError:
        print("--card-fee must look like 290,30", file=sys.stderr)
        return 2
    keys = (
        args.api_key or [k.strip() for k in env_keys.split(",") if k.strip()] or [DEFAULT_API_KEY]
    )
    sim = StripeSimulator(
        api_keys=keys,
        connect_webhook_url=args.connect_webhook_url,
        connect_webhook_secret=args.connect_webhook_secret,
        state_path=args.state,
        host=args.host,
        port=args.port,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        webhook_backoff=args.webhook_backoff,
        webhook_max_attempts=args.webhook_max_attempts,
        payout_settlement=args.payout_settlement,
        card_fee_bp=fee_bp,
        card_fee_fixed=fee_fixed,
        available_delay=args.available_delay,
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
    webhook = args.webhook_url if sim.webhooks_enabled else "off"
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
