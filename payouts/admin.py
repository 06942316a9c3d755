from django.contrib import admin

from payouts.models import (
    Deposit,
    DepositEvent,
    LedgerAccount,
    LedgerCheckRun,
    LedgerEntry,
    LedgerTransaction,
    PlatformSettings,
    StripeAlert,
)


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "fee_rate_bp",
        "fee_minimum_cents",
        "pay_floor_cents_per_hour",
        "withdrawal_minimum_cents",
    )

    def has_add_permission(self, request):
        return not PlatformSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyLedgerAdmin(admin.ModelAdmin):
    """The ledger is written only by ``payouts.ledger`` (and the database refuses UPDATE
    and DELETE anyway): staff may read it, nobody may add, change or delete here."""

    def has_view_permission(self, request, obj=None):
        return (
            request.user.is_active
            and request.user.is_staff
            and super().has_view_permission(request, obj)
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ("account", "amount_cents", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyLedgerAdmin):
    list_display = (
        "id",
        "kind",
        "owner",
        "ref",
        "balance_cents",
        "currency",
        "allow_negative",
        "created_at",
    )
    list_filter = ("kind",)
    search_fields = ("owner__email", "ref")
    list_select_related = ("owner",)
    readonly_fields = (
        "kind",
        "owner",
        "ref",
        "currency",
        "balance_cents",
        "allow_negative",
        "created_at",
    )


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyLedgerAdmin):
    list_display = (
        "id",
        "kind",
        "idempotency_key",
        "external_ref",
        "reverses",
        "memo",
        "created_at",
    )
    list_filter = ("kind",)
    search_fields = ("idempotency_key", "external_ref", "memo")
    list_select_related = ("reverses",)
    readonly_fields = ("idempotency_key", "kind", "memo", "external_ref", "reverses", "created_at")
    inlines = [LedgerEntryInline]
    date_hierarchy = "created_at"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyLedgerAdmin):
    list_display = ("id", "transaction", "account", "amount_cents", "created_at")
    list_filter = ("account__kind",)
    search_fields = ("transaction__idempotency_key", "account__owner__email", "account__ref")
    list_select_related = ("transaction", "account", "account__owner")
    readonly_fields = ("transaction", "account", "amount_cents", "created_at")


class DepositEventInline(admin.TabularInline):
    model = DepositEvent
    fields = ("created_at", "old_status", "new_status", "actor", "reason", "stripe_event_id")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Deposit)
class DepositAdmin(ReadOnlyLedgerAdmin):
    """Deposits move only through ``funding.deposit_transition``: read-only here, with
    their status history."""

    list_display = ("pk", "user", "amount_cents", "fee_cents", "currency", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("user__email", "checkout_session_id")
    readonly_fields = ("checkout_url",)  # no URL form field is built for a read-only view
    inlines = [DepositEventInline]


@admin.register(StripeAlert)
class StripeAlertAdmin(ReadOnlyLedgerAdmin):
    list_display = ("created_at", "kind", "message", "stripe_event_id", "deposit")
    list_filter = ("kind",)
    search_fields = ("stripe_event_id", "session_id", "message")


@admin.register(LedgerCheckRun)
class LedgerCheckRunAdmin(ReadOnlyLedgerAdmin):
    list_display = ("started_at", "source", "ok", "check_count", "violation_count", "transactions")
    list_filter = ("ok", "source")
    readonly_fields = (
        "source",
        "started_at",
        "finished_at",
        "ok",
        "check_count",
        "violation_count",
        "violations",
        "accounts",
        "transactions",
        "entries",
    )
