"""The dashboard in headless chromium: it loads with its charts, the metrics and the map, shows no
exception, and asks nothing of any host but its own (plotly's map outlines would come from a CDN)."""

from __future__ import annotations

import pytest

from lambdas.api.app import create_app
from tests.support.api import serving
from tests.support.browser import ARTIFACTS, assert_dashboard_renders, chromium, dashboard_server, missing_browser
from tests.support.stores import with_a_month_not_known_yet

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_dashboard_renders_in_a_real_browser(trained_store):
    if reason := missing_browser():
        pytest.skip(reason)
    store, final = trained_store
    with serving(create_app(store.url)) as api, dashboard_server(store.url, api) as url, chromium() as browser:
        loaded_s = assert_dashboard_renders(browser, url, "dashboard.png")
        print(f"dashboard loaded with charts in {loaded_s:.1f} s; screenshot {ARTIFACTS / 'dashboard.png'}")


def test_a_store_with_only_a_month_not_known_yet_renders_without_nan(trained_store, tmp_path):
    """No Plotly NaN errors in the console and no "nan" on the page when no month has actuals yet."""
    if reason := missing_browser():
        pytest.skip(reason)
    store = with_a_month_not_known_yet(trained_store[0], tmp_path / "store", only=True)
    with serving(create_app(store.url)) as api, dashboard_server(store.url, api) as url, chromium() as browser:
        assert_dashboard_renders(browser, url, "dashboard-month-not-known-yet.png", actuals_known=False)


def test_api_docs_render_offline_in_a_real_browser(trained_store):
    """/docs draws Swagger UI from the package's own assets: no CDN (a blank page offline before)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.support.browser import requested_urls

    if reason := missing_browser():
        pytest.skip(reason)
    store, _ = trained_store
    with serving(create_app(store.url)) as api, chromium() as browser:
        browser.get(f"{api}/docs")
        WebDriverWait(browser, 60).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/predict", "/predictions", "/summary", "/model", "/health"} <= paths
        foreign = [u for u in requested_urls(browser) if not u.startswith((api, "data:", "blob:"))]
        assert not foreign, f"the docs fetched from other hosts: {foreign}"
        browser.save_screenshot(str(ARTIFACTS / "api-docs.png"))
