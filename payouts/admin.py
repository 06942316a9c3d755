from django.contrib import admin

from payouts.models import PlatformSettings


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(admin.ModelAdmin):
    list_display = ("fee_rate_bp", "fee_minimum_cents", "pay_floor_cents_per_hour", "withdrawal_minimum_cents")

    def has_add_permission(self, request):
        return not PlatformSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False
