from django.apps import AppConfig


class TestDbConfig(AppConfig):
    """Test-only app (installed by marketplace.settings.test): the suite's ``flush``."""

    name = "tests.testdb"
    label = "testdb"
