"""The browser tests' fixtures (defined in _browser.py with the helpers they share)."""

from tests.e2e._browser import browser, server

__all__ = ["browser", "server"]
