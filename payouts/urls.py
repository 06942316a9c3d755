from django.urls import path

from payouts import views

app_name = "payouts"

urlpatterns = [
    path("funds/", views.add_funds, name="add_funds"),
    path("funds/return/", views.funds_return, name="funds_return"),
    path("funds/<int:deposit_id>/cancel/", views.deposit_cancel, name="deposit_cancel"),
    path("statement/", views.statement, name="statement"),
    path("withdraw/", views.withdraw, name="withdraw"),
    path("withdraw/connect/", views.payout_connect, name="payout_connect"),
    path("withdraw/refresh/", views.payout_refresh, name="payout_refresh"),
    path("statement.csv", views.statement_csv, name="statement_csv"),
    path("stripe/webhook/", views.stripe_webhook, name="stripe_webhook"),
    path("stripe/connect-webhook/", views.stripe_connect_webhook, name="stripe_connect_webhook"),
    path("staff/money/", views.money_overview, name="money_overview"),
    path("staff/money/sync-events/", views.staff_sync_events, name="staff_sync_events"),
    path("staff/accounts/<int:account_id>/", views.staff_account, name="staff_account"),
]
