from urllib.parse import urlsplit

import pytest


@pytest.fixture
def site(live_server):
    """The live server's base URL (no trailing slash)."""
    return live_server.url


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


# Every browser journey also checks the site's Content-Security-Policy: a violation
# anywhere (a blocked script, style, frame, form target...) fails the test that caused
# it, with what was blocked. Reported both by the page (the securitypolicyviolation
# event, through a binding that survives navigations) and by Chromium's console.
_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__fairtaskCspViolation && window.__fairtaskCspViolation({
    directive: e.effectiveDirective || e.violatedDirective,
    blocked: e.blockedURI,
    source: e.sourceFile,
    line: e.lineNumber,
    sample: e.sample,
    page: location.href,
  });
});
"""


@pytest.fixture(autouse=True)
def _no_csp_violations(request):
    if "page" not in request.fixturenames:
        yield
        return
    page = request.getfixturevalue("page")
    violations: list[str] = []

    def in_task_frame(url: str) -> bool:
        # The task frame runs requester HTML under its own sandbox policy; what that
        # policy refuses there (a template's fetch to our API...) is the frame working.
        # Worker frames live under /frame/, the requester's preview frame at
        # /requester/projects/<id>/preview/frame (both rendered by marketplace.frame).
        path = urlsplit(url or "").path
        return path.startswith("/frame/") or path.endswith("/preview/frame")

    def on_event(source, v):  # noqa: ANN001 - Playwright's binding signature
        if not in_task_frame(v.get("page", "")):
            violations.append(f"event: {v}")

    page.context.expose_binding("__fairtaskCspViolation", on_event)
    page.context.add_init_script(_CSP_LISTENER)

    def on_console(message):
        url = (message.location or {}).get("url", "")
        if (
            message.type == "error"
            and "Content Security Policy" in message.text
            and not in_task_frame(url)
        ):
            violations.append(f"console: {message.text} (at {url})")

    page.on("console", on_console)
    yield violations
    assert not violations, "Content-Security-Policy violations:\n" + "\n".join(violations)
