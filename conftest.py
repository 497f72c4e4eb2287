"""Project-wide pytest setup: the markers of slow and browser tests (both run in `make test` too)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts the app or a browser; seconds to a minute (still run by `make test`)")
    config.addinivalue_line("markers", "browser: drives Debian's headless Chromium through Playwright")
