"""A real dashboard in a real browser: Streamlit's server in a subprocess, Debian's headless chromium
driven by selenium (both binaries named explicitly, so nothing is ever downloaded)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.support.tools import missing

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def dashboard_server(store_url: str, api_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "HOUSING_STORE": store_url, "API_URL": api_url}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process, lambda: process.stdout.read() if process.stdout else "")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def wait_until_healthy(url: str, process: subprocess.Popen, output, timeout_s: float = 90) -> None:
    """Wait for Streamlit's health endpoint at `url`; fail with the server's `output()` if it stops or
    never answers."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start at {url}:\n{output()}") from None
            time.sleep(0.2)


def missing_browser() -> str | None:
    """Why the browser cannot run here, or None (see tests/support/tools.py; CI sets HOUSING_REQUIRE_BROWSER=1)."""
    return missing((CHROMIUM, CHROMEDRIVER), "apt-get install chromium chromium-driver", "HOUSING_REQUIRE_BROWSER")


@contextlib.contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1500,2600",
                "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def requested_urls(driver: webdriver.Chrome) -> list[str]:
    """Every URL the page asked for since the last call (from the DevTools network log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def assert_dashboard_renders(browser: webdriver.Chrome, url: str, screenshot: str, actuals_known: bool = True) -> float:
    """Load the dashboard at `url`: its five charts (the skill by horizon among them), metrics and map drawn,
    no exception, no console error, nothing asked of any other host (plotly's map outlines would come from a
    CDN). Saves a screenshot in
    ARTIFACTS; returns the seconds from navigation to the drawn charts."""
    started = time.monotonic()
    browser.get(url)
    WebDriverWait(browser, 90).until(
        lambda b: len(b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= 5
        and b.find_elements(By.CSS_SELECTOR, '[data-testid="stMetricValue"]'))
    loaded_s = time.monotonic() - started
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / screenshot))

    text = browser.find_element(By.TAG_NAME, "body").text
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]'), text
    assert "Traceback" not in text and "Exception" not in text
    assert "All regions" in text and ("MAE" in text and "Errors per metro" in text if actuals_known
                                      else "not known yet" in text and "Predictions per metro" in text)
    assert not re.search(r"\bnan\b", text, re.IGNORECASE), "the page shows NaN"
    assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .geo"), "the map did not render"
    foreign = [u for u in requested_urls(browser) if not u.startswith((url, "data:", "blob:"))]
    assert not foreign, f"the page fetched from other hosts: {foreign}"
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe
    return loaded_s
