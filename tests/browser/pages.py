"""Checks shared by the every-page tests (requester and worker): a page at a given
width fits the screen (nothing scrolls sideways, no table scrolls sideways inside its
``.table-wrap`` on a phone, no cell or control ends past the right edge), no amount is
broken over two lines, axe-core finds no serious or critical violation, and a
full-page screenshot is kept in var/screenshots/<screen>/<name>.png for a person to
look at."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.fixtures.browser import axe_violations

SHOTS = Path("var/screenshots")
WIDTHS = {"desktop": 1280, "phone": 390}
# Up to this width (where fairtask.css stacks ``table.stack``) no table may hide a
# column behind a sideways scroll of its own (found on the worker's "Decisions and
# payments" page at 390 px).
PHONE_MAX = 639


def off_screen(page: Page, width: int) -> list[str]:
    """Cells and controls of the main content that end beyond the right edge."""
    return page.evaluate(
        """(width) => Array.from(document.querySelectorAll(
              'main td, main th, main input, main select, main textarea, main button, main .button, main code'))
            .filter(el => el.offsetParent !== null)
            .filter(el => { const r = el.getBoundingClientRect(); return r.width > 2 && r.height > 2; })
            // A header row that is only there for screen readers (stacked tables).
            .filter(el => !el.closest('thead') || el.closest('thead').getBoundingClientRect().width > 2)
            .filter(el => el.getBoundingClientRect().right > width + 0.5)
            .map(el => el.tagName.toLowerCase() + ': ' + el.textContent.trim().slice(0, 40))""",
        width,
    )


def wrapped_amounts(page: Page) -> list[str]:
    """Money and counts in table cells that take more than one line ("−$36.00" broken
    after its minus sign)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('main td.num'))
            .filter(el => el.offsetParent !== null && el.textContent.trim())
            .filter(el => {
              const range = document.createRange();
              range.selectNodeContents(el);
              const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
              return tops.size > 1;
            })
            .map(el => el.textContent.trim())"""
    )


def scrolling_tables(page: Page) -> list[str]:
    """Table wrappers whose content is wider than they are: a column reachable only by
    scrolling the table sideways."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('main .table-wrap'))
            .filter(w => w.offsetParent !== null && w.scrollWidth > w.clientWidth + 1)
            .map(w => (w.getAttribute('aria-label') || w.textContent.trim()).slice(0, 60)
                      + ' (' + w.scrollWidth + ' > ' + w.clientWidth + ' px)')"""
    )


def page_problems(page: Page, *, screen: str, name: str, label: str) -> list[str]:
    """Screenshot the page as it is now and say everything wrong with how it fits
    ``WIDTHS[screen]`` and with its accessibility; ``label`` names it in the messages."""
    width = WIDTHS[screen]
    (SHOTS / screen).mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / screen / f"{name}.png"), full_page=True)
    problems = []
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    if scroll_width > width:
        problems.append(f"{label}: page is {scroll_width} px wide")
    if width <= PHONE_MAX:
        scrolling = scrolling_tables(page)
        if scrolling:
            problems.append(f"{label}: table scrolls sideways: {scrolling[:5]}")
    off = off_screen(page, width)
    if off:
        problems.append(f"{label}: cut off: {off[:5]}")
    wrapped = wrapped_amounts(page)
    if wrapped:
        problems.append(f"{label}: amounts broken over two lines: {wrapped[:5]}")
    problems += [
        f"{label}: axe {v['impact']} {v['id']} at {v['targets']}" for v in axe_violations(page)
    ]
    return problems


def connect_payout_account(page: Page, *, onboarding_at: str | None = None) -> None:
    """On the Withdraw page: connect a payout account through the Stripe simulator's
    hosted onboarding (checked to be served from ``onboarding_at`` when given), and
    wait until the page says it is connected."""
    page.get_by_role("button", name="Connect with Stripe").click()
    if onboarding_at is not None:
        expect(page).to_have_url(re.compile(re.escape(onboarding_at)))
    page.get_by_role("button", name="Complete onboarding").click()
    expect(page.get_by_role("heading", name="Withdraw", exact=True)).to_be_visible()
    if page.get_by_role("button", name="I finished: check again").count():
        page.get_by_role("button", name="I finished: check again").click()
    expect(page.locator("#payout-status")).to_contain_text("Connected through Stripe")
