"""The dashboard in headless chromium: it loads with its charts, the metrics and the map, shows no
exception, and asks nothing of any host but its own (plotly's map outlines would come from a CDN)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from lambdas.api.app import create_app
from tests.api_support import serving
from tests.browser_support import chromium, dashboard_server, missing_browser, requested_urls

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))


def test_dashboard_renders_in_a_real_browser(trained_store):
    if reason := missing_browser():
        pytest.skip(reason)
    store, final = trained_store
    with serving(create_app(store.url)) as api, dashboard_server(store.url, api) as url, chromium() as browser:
        started = time.monotonic()
        browser.get(url)
        WebDriverWait(browser, 60).until(
            lambda b: len(b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= 4
            and b.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]'))
        loaded_s = time.monotonic() - started
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))

        text = browser.find_element(By.TAG_NAME, "body").text
        assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), text
        assert "Traceback" not in text and "Exception" not in text
        assert "All regions" in text and "MAE" in text and "Errors per metro" in text
        assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .geo"), "the map did not render"
        foreign = [u for u in requested_urls(browser) if not u.startswith((url, "data:", "blob:"))]
        assert not foreign, f"the page fetched from other hosts: {foreign}"
        severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert not severe, severe
        print(f"dashboard loaded with charts in {loaded_s:.1f} s; screenshot {ARTIFACTS / 'dashboard.png'}")
