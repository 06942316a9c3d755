import pytest


@pytest.fixture
def site(live_server):
    """The live server's base URL (no trailing slash)."""
    return live_server.url


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
