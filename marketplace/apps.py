from django.apps import AppConfig
from django.db.models.signals import post_migrate


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    verbose_name = "Marketplace"

    def ready(self) -> None:
        from marketplace import checks, ledger_checks  # noqa: F401 (checks: @register)

        # Once per migrate (sender: this app), after every migration has run: the runtime
        # role gets exactly its grants on whatever tables now exist.
        post_migrate.connect(
            _grant_after_migrate, sender=self, dispatch_uid="fairtask_runtime_grants"
        )
        ledger_checks.register()


def _grant_after_migrate(*, using: str = "default", plan=None, **kwargs) -> None:
    from marketplace import db_roles

    if plan is None:
        return  # flush, not migrate: no table was created
    db_roles.grant_runtime_privileges(using=using)
