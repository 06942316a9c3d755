"""The simulator's stand-ins for Stripe-hosted pages (Checkout, Connect onboarding).

Plain HTML with ordinary POST forms and no JavaScript, so a browser test, a
person, or ``urllib`` can all click through them. Everything interpolated is
escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .engine import format_amount

_STYLE = """
body{font-family:system-ui,sans-serif;background:#f6f8fa;margin:0;color:#1a1f36}
main{max-width:28rem;margin:3rem auto;background:#fff;border-radius:12px;padding:2rem;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
.banner{background:#ffde92;color:#5c3b00;font-size:.8rem;padding:.25rem .6rem;border-radius:4px;
display:inline-block;margin-bottom:1rem}
table{width:100%;border-collapse:collapse;margin:1rem 0}td{padding:.35rem 0}
td.amount{text-align:right}tr.total td{border-top:1px solid #e3e8ee;font-weight:600}
button{width:100%;padding:.8rem;border:0;border-radius:6px;font-size:1rem;cursor:pointer;margin-top:.5rem}
button.primary{background:#635bff;color:#fff}button.secondary{background:#e3e8ee;color:#1a1f36}
.error{background:#fde2e1;color:#8a1c16;padding:.6rem;border-radius:6px}
label{display:block;margin-top:.5rem;font-size:.9rem}input{width:100%;padding:.5rem;box-sizing:border-box}
"""


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body><main>"
        '<span class="banner">TEST MODE · Fairtask Stripe simulator</span>'
        f"{body}</main></body></html>"
    )


def checkout_page(
    session: dict[str, Any], items: list[dict[str, Any]], error: str | None = None
) -> str:
    session_id = escape(session["id"])
    currency = session["currency"]
    total = format_amount(session["amount_total"], currency)
    if session["status"] != "open":
        state = "has been paid" if session["status"] == "complete" else "has expired"
        return page("Checkout", f"<h1>Checkout</h1><p>This checkout session {state}.</p>")
    rows = "".join(
        f"<tr><td>{escape(item['description'])} × {item['quantity']}</td>"
        f'<td class="amount">{escape(format_amount(item["amount_total"], currency))}</td></tr>'
        for item in items
    )
    notice = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    email = escape(session.get("customer_email") or "")
    body = (
        f"<h1>Pay {escape(total)}</h1>{notice}"
        f'<table>{rows}<tr class="total"><td>Total</td>'
        f'<td class="amount">{escape(total)}</td></tr></table>'
        f'<form method="post" action="/checkout/pay/{session_id}">'
        f'<label>Email<input type="email" name="email" value="{email}"></label>'
        '<label>Card<input name="card" value="4242 4242 4242 4242" readonly></label>'
        f'<button class="primary" type="submit">Pay {escape(total)}</button></form>'
        f'<form method="post" action="/checkout/pay/{session_id}/cancel">'
        '<button class="secondary" type="submit">Cancel</button></form>'
    )
    return page(f"Pay {total}", body)


def onboarding_page(account: dict[str, Any], token: str | None) -> str:
    account_id = escape(account["id"])
    hidden = f'<input type="hidden" name="link" value="{escape(token)}">' if token else ""
    email = escape(account.get("email") or "(no email)")
    if account["details_submitted"]:
        status = "<p>This account has already finished onboarding.</p>"
    else:
        status = "<p>Onboarding is incomplete: payouts are disabled until it is completed.</p>"
    body = (
        f"<h1>Set up payouts</h1><p>Connected account <code>{account_id}</code> · {email}</p>"
        f"{status}"
        f'<form method="post" action="/connect/onboard/{account_id}">{hidden}'
        '<input type="hidden" name="action" value="complete">'
        '<button class="primary" type="submit">Complete onboarding</button></form>'
        f'<form method="post" action="/connect/onboard/{account_id}">{hidden}'
        '<input type="hidden" name="action" value="leave">'
        '<button class="secondary" type="submit">Return without finishing</button></form>'
    )
    return page("Set up payouts", body)


def message_page(title: str, message: str) -> str:
    return page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")
