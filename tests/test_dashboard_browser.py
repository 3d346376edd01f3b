"""The dashboard in headless chromium: it loads with its charts, the metrics and the map, shows no
exception, and asks nothing of any host but its own (plotly's map outlines would come from a CDN)."""

from __future__ import annotations

import pytest

from lambdas.api.app import create_app
from tests.api_support import serving
from tests.browser_support import ARTIFACTS, assert_dashboard_renders, chromium, dashboard_server, missing_browser

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_dashboard_renders_in_a_real_browser(trained_store):
    if reason := missing_browser():
        pytest.skip(reason)
    store, final = trained_store
    with serving(create_app(store.url)) as api, dashboard_server(store.url, api) as url, chromium() as browser:
        loaded_s = assert_dashboard_renders(browser, url, "dashboard.png")
        print(f"dashboard loaded with charts in {loaded_s:.1f} s; screenshot {ARTIFACTS / 'dashboard.png'}")
