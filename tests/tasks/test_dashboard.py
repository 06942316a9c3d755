"""The worker's dashboard: earnings figures to the cent, rates, the chart, the CSV
export, preferences, daily caps and the sprint timer."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tasks import earnings, preferences
from tasks.models import Assignment, WorkerPreferences
from tests.fixtures.assignments import make_assignment, settle
from tests.fixtures.users import RequesterFactory
from tests.tasks.conftest import publish_work

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(worker, requester):
    """Two requesters' work: 3 submitted (10¢, 40 s each), 2 approved (30¢, 60 s each,
    one settled), 1 rejected, 1 returned, 1 accepted."""
    _, cheap = publish_work(
        requester, title="Cheap", rows=10, reward_cents=10, estimated_seconds=30
    )
    other = RequesterFactory(display_name="Acme Labs")
    _, dear = publish_work(
        other, title="=HYPERLINK(evil)", rows=10, reward_cents=30, estimated_seconds=60
    )
    for _ in range(3):
        make_assignment(cheap, "submitted", worker=worker, seconds=40)
    approved = [make_assignment(dear, "approved", worker=worker, seconds=60) for _ in range(2)]
    settle(approved[0])
    make_assignment(dear, "rejected", worker=worker, seconds=60)
    make_assignment(cheap, "returned", worker=worker)
    make_assignment(cheap, "accepted", worker=worker)
    return worker


def test_summary_figures_to_the_cent(history):
    # The settled approval was submitted 95 s before settlement paid it.
    settled = history.assignments.get(settled_at__isnull=False)
    Assignment.objects.filter(pk=settled.pk).update(
        settled_at=settled.submitted_at + timedelta(seconds=95)
    )
    s = earnings.summary(user=history)
    # Pending: 3 × 10¢ waiting for review + 30¢ approved and not yet settled; the money
    # is always in exactly one of pending and available until it is withdrawn.
    assert (s.pending_cents, s.lifetime_cents, s.available_cents) == (60, 60, 30)
    assert (s.settling_cents, s.settling) == (30, 1)
    assert s.cash_in_hand_seconds == 95
    assert (s.today_cents, s.week_cents, s.earned_cents) == (90, 90, 90)
    assert (s.submitted, s.approved, s.rejected) == (3, 2, 1)
    assert s.approval_rate == 66.7
    # 90¢ over 3×40 s + 2×60 s = 240 s: $13.50/h.
    assert (s.work_seconds, s.hourly_cents) == (240, 1350)
    assert [(r.label, r.earned_cents, r.hourly_cents) for r in s.by_project] == [
        ("=HYPERLINK(evil)", 60, 1800),
        ("Cheap", 30, 900),
    ]
    assert s.by_requester[0].label == "Acme Labs"
    assert s.daily[-1].earned_cents == 90 and sum(d.earned_cents for d in s.daily) == 90


def test_projects_of_the_same_title_name_their_requester(worker, requester):
    """Two requesters' projects called the same: the by-project rows would read as one
    project listed twice with different figures."""
    requester.display_name = "Nordlicht"
    requester.save(update_fields=["display_name"])
    other = RequesterFactory(display_name="Acme Labs")
    _, mine = publish_work(requester, title="Sort messages", rows=5, reward_cents=10)
    _, theirs = publish_work(other, title="Sort messages", rows=5, reward_cents=20)
    _, unique = publish_work(other, title="Judge results", rows=5, reward_cents=8)
    for batch in (mine, theirs, unique):
        make_assignment(batch, "submitted", worker=worker)
    s = earnings.summary(user=worker)
    assert [r.label for r in s.by_project] == [
        "Sort messages (Acme Labs)",
        "Sort messages (Nordlicht)",
        "Judge results",
    ]


def test_lifetime_counts_bonuses_as_available_does(history):
    from payouts import ledger
    from tasks import review

    approved = history.assignments.filter(status="approved").select_related("batch").first()
    owner = approved.batch.owner
    ledger.deposit(key="deposit-bonus-test", user=owner, amount_cents=1_000)
    review.assignment_bonus(
        requester=owner, assignment_id=approved.pk, amount_cents=25, reason="Careful work"
    )
    s = earnings.summary(user=history)
    # 60¢ approved + 25¢ bonus; available: 30¢ settled + 25¢ bonus.
    assert (s.lifetime_cents, s.bonus_cents, s.available_cents) == (85, 25, 55)
    assert s.lifetime_cents >= s.available_cents


def test_dashboard_page_and_its_svg_chart(wclient, history):
    response = wclient.get(reverse("work:dashboard"))
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("$0.30", "$0.60", "$13.50/h", "66.7%", "Acme Labs", "<svg", "<rect"):
        assert text in html, text
    assert "3 waiting for review; $0.30 approved and being paid." in html
    assert f'href="{reverse("work:earnings")}"' in html
    chart = response.context["chart"]
    assert len(chart.bars) == earnings.CHART_DAYS
    assert chart.bars[-1].height == 180 - 12 - 24  # today's bar is the tallest
    assert all(b.height == 0 for b in chart.bars[:-1])


def test_an_empty_dashboard_shows_dashes(wclient):
    html = wclient.get(reverse("work:dashboard")).content.decode()
    assert "$0.00" in html and "—" in html and "Nothing submitted yet." in html


def test_dashboard_queries_do_not_grow_with_history(
    wclient, worker, requester, django_assert_max_num_queries
):
    _, batch = publish_work(requester, rows=40)
    make_assignment(batch, "submitted", worker=worker)
    with django_assert_max_num_queries(10) as small:
        wclient.get(reverse("work:dashboard"))
    for _ in range(20):
        make_assignment(batch, "approved", worker=worker)
    with django_assert_max_num_queries(len(small.captured_queries)):
        wclient.get(reverse("work:dashboard"))


def test_the_csv_export_is_formula_safe_and_exact(wclient, history):
    response = wclient.get(reverse("work:earnings_csv"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == earnings.HISTORY_HEADER
    body = rows[1:]
    assert len(body) == 6  # handed in: 3 submitted, 2 approved, 1 rejected
    projects = {r[2] for r in body}
    assert projects == {"Cheap", "'=HYPERLINK(evil)"}
    assert sorted(r[5] for r in body) == ["0.10", "0.10", "0.10", "0.30", "0.30", "0.30"]
    assert {r[4] for r in body} == {"submitted", "approved", "rejected"}


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cell_neutralises_formulas(text):
    assert earnings.csv_cell(text) == "'" + text
    assert earnings.csv_cell("plain") == "plain"


def test_preferences_are_saved_and_bad_values_refused(wclient, worker):
    url = reverse("work:preferences")
    ok = wclient.post(
        url,
        {
            "min_hourly": "9.50",
            "accept_next": "",
            "daily_cap_minutes": "90",
            "daily_cap": "12",
            "sprint_minutes": "30",
        },
    )
    assert ok.status_code == 302
    prefs = WorkerPreferences.objects.get(user=worker)
    assert (
        prefs.min_hourly_cents,
        prefs.accept_next,
        prefs.daily_cap_minutes,
        prefs.daily_cap_cents,
        prefs.sprint_minutes,
    ) == (950, False, 90, 1200, 30)
    bad = wclient.post(
        url, {"min_hourly": "9,50", "daily_cap_minutes": "5000", "sprint_minutes": "0"}
    )
    assert bad.status_code == 400
    errors = bad.context["prefs_form"].errors
    assert "comma for cents" in errors["min_hourly"][0]
    assert set(errors) == {"min_hourly", "daily_cap_minutes", "sprint_minutes"}
    prefs.refresh_from_db()
    assert prefs.min_hourly_cents == 950


def test_the_service_bounds_values_too(worker):
    from core.errors import ApplicationError

    with pytest.raises(ApplicationError) as exc:
        preferences.preferences_update(
            user=worker,
            min_hourly_cents=0,
            accept_next=True,
            daily_cap_minutes=0,
            daily_cap_cents=None,
            sprint_minutes=25,
        )
    assert exc.value.field == "daily_cap_minutes"
    assert not WorkerPreferences.objects.filter(user=worker).exists()


def test_daily_caps_tell_the_worker_to_stop(wclient, worker, requester):
    _, batch = publish_work(requester, rows=5, reward_cents=10)
    preferences.preferences_update(
        user=worker,
        min_hourly_cents=0,
        accept_next=True,
        daily_cap_minutes=None,
        daily_cap_cents=20,
        sprint_minutes=25,
    )
    make_assignment(batch, "submitted", worker=worker)
    assert "Time to stop for today" not in wclient.get(reverse("worker_home")).content.decode()
    make_assignment(batch, "submitted", worker=worker)
    html = wclient.get(reverse("worker_home")).content.decode()
    assert "Time to stop for today" in html and "your cap is $0.20" in html
    preferences.preferences_update(
        user=worker,
        min_hourly_cents=0,
        accept_next=True,
        daily_cap_minutes=1,
        daily_cap_cents=None,
        sprint_minutes=25,
    )
    state = earnings.wellbeing(user=worker, prefs=WorkerPreferences.objects.get(user=worker))
    assert state.today_work_seconds == 80 and state.time_cap_reached


def test_the_sprint_timer_starts_shows_and_stops(wclient, worker):
    wclient.post(reverse("work:sprint"), {"action": "start"})
    prefs = WorkerPreferences.objects.get(user=worker)
    assert prefs.sprint_started_at is not None
    end = prefs.sprint_started_at + timedelta(minutes=25)
    html = wclient.get(reverse("work:queue")).content.decode()
    assert f'data-sprint-end="{end.isoformat()}"' in html
    assert "Sprint over" in html and "data-sprint-over hidden" in html
    WorkerPreferences.objects.filter(user=worker).update(
        sprint_started_at=timezone.now() - timedelta(minutes=26)
    )
    html = wclient.get(reverse("work:queue")).content.decode()
    assert "data-sprint-over hidden" not in html and "Sprint over: take a break." in html
    wclient.post(reverse("work:sprint"), {"action": "stop", "next": "https://evil.example/"})
    assert WorkerPreferences.objects.get(user=worker).sprint_started_at is None
