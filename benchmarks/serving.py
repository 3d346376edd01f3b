"""Serving benchmarks on full-size data; prints a Markdown table.

    uv run python benchmarks/serving.py [--store DIR] [--trials 5] [--requests 1000] [--concurrency 4]

1. Builds (or reuses) a full-size store: `housing run` on the 884,092-row synthetic set.
2. `/predict` latency: `housing serve` (uvicorn, one worker) in its own process; the load generator is this
   script: Python's http.client over keep-alive connections, sequential for p50/p99, then N threads for
   throughput. Client and server share the machine's 2 cores.
3. Cold start: a fresh interpreter that imports `lambdas.api.handler` (which loads the champion) and answers
   one ALB event, with the API image's packages only (installed with `uv pip install --target` from the lock
   file's `api` group: no scikit-learn, no MLflow).
4. Dashboard "All regions": the Streamlit script run by AppTest on the full-size store, first (nothing
   cached) and again (Streamlit's cache warm); then a fresh Streamlit server in headless chromium, from
   navigation until all four charts are drawn.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.image_packages import BASE_PYTHON, run_env, site_packages  # noqa: E402
from shared.champion import read_champion  # noqa: E402
from shared.store import open_store  # noqa: E402
from tests.api_support import records_from  # noqa: E402
from tests.browser_support import free_port  # noqa: E402

COLD_START = """
import json, sys, time
started = time.perf_counter()
from lambdas.api.handler import handler
loaded = time.perf_counter()
event = {"requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/1"}},
         "httpMethod": "POST", "path": "/predict", "queryStringParameters": {}, "isBase64Encoded": False,
         "headers": {"content-type": "application/json", "host": "alb"}, "body": sys.argv[1]}
response = handler(event, None)
done = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({"import_and_load_s": loaded - started, "first_response_s": done - started,
                  "sklearn": "sklearn" in sys.modules, "mlflow": "mlflow" in sys.modules}))
"""


def full_size_store(path: Path, trials: int) -> str:
    store = open_store(str(path))
    if read_champion(store) is None:
        print(f"building a full-size store in {path} ({trials} trials)...", file=sys.stderr)
        subprocess.run(["housing", "run", "--store", str(path), "--trials", str(trials)], check=True,
                       stdout=subprocess.DEVNULL)
    return str(path)


def sample_records(store_url: str, n: int) -> list[dict]:
    store = open_store(store_url)
    raw_key = next(k for k in store.list("raw/") if k.endswith((".parquet", ".csv")))
    raw = pd.read_parquet(store.locate(raw_key)).tail(5000)
    return records_from(raw.sample(n, random_state=0, replace=n > len(raw)))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def post(conn: http.client.HTTPConnection, body: bytes) -> float:
    started = time.perf_counter()
    conn.request("POST", "/predict", body=body, headers={"content-type": "application/json"})
    response = conn.getresponse()
    response.read()
    assert response.status == 200, response.status
    return time.perf_counter() - started


def predict_latency(store_url: str, requests: int, concurrency: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(["housing", "serve", "--store", store_url, "--port", str(port)],
                              stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        results = {}
        for n in (1, 100):
            body = json.dumps({"records": sample_records(store_url, n)}).encode()
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(20):
                post(conn, body)  # warm-up
            times = [post(conn, body) for _ in range(requests if n == 1 else requests // 5)]
            results[f"p50_{n}"], results[f"p99_{n}"] = percentile(times, 50) * 1000, percentile(times, 99) * 1000
        body = json.dumps({"records": sample_records(store_url, 1)}).encode()
        done = []

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port)
            done.extend(post(conn, body) for _ in range(requests // concurrency))

        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        results["throughput"] = len(done) / elapsed
        results["p50_loaded"] = percentile(done, 50) * 1000
        return results
    finally:
        server.terminate()
        server.wait()


def cold_start(store_url: str, site: Path, runs: int = 5) -> dict[str, float]:
    body = json.dumps({"records": sample_records(store_url, 1)})
    env = run_env(site, HOUSING_STORE=store_url)
    samples = []
    for _ in range(runs):
        # The base interpreter with no site-packages at all (-S): only the API image's packages are importable.
        out = subprocess.run([BASE_PYTHON, "-S", "-c", COLD_START, body], env=env, check=True,
                             capture_output=True, text=True, cwd="/").stdout
        samples.append(json.loads(out.strip().splitlines()[-1]))
    assert not any(s["sklearn"] or s["mlflow"] for s in samples), samples
    return {key: statistics.median(s[key] for s in samples) for key in ("import_and_load_s", "first_response_s")}


def dashboard_all_regions(store_url: str) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["HOUSING_STORE"] = store_url
    os.environ["API_URL"] = "http://127.0.0.1:9"
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120)
    started = time.perf_counter()
    app.run()
    first = time.perf_counter() - started
    assert not app.exception and app.selectbox(key="metro").value == "All regions"
    zips = next(m.value for m in app.metric if m.label == "Zip codes")
    started = time.perf_counter()
    app.run()
    again = time.perf_counter() - started
    return {"first_s": first, "warm_s": again, "zips": zips, "browser_s": browser_load(store_url)}


def browser_load(store_url: str) -> tuple[float, float]:
    """Seconds from navigation until headless chromium shows all four charts: a new browser on a fresh
    Streamlit server (downloads Streamlit's front end), then a reload."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser_support import chromium, dashboard_server

    def load(browser, url: str) -> float:
        started = time.perf_counter()
        browser.get(url)
        WebDriverWait(browser, 120).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= 4)
        return time.perf_counter() - started

    with dashboard_server(store_url, "http://127.0.0.1:9") as url, chromium() as browser:
        return load(browser, url), load(browser, url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=ROOT / ".bench" / "full-store")
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    store_url = full_size_store(args.store.resolve(), args.trials)
    latency = predict_latency(store_url, args.requests, args.concurrency)
    cold = cold_start(store_url, site_packages("api"))
    board = dashboard_all_regions(store_url)
    print("| measure | target | measured |\n| --- | --- | --- |")
    print(f"| `/predict` 1 record, p50 / p99 (sequential, keep-alive) | <= 10 / 50 ms | {latency['p50_1']:.1f} / {latency['p99_1']:.1f} ms |")
    print(f"| `/predict` 100 records, p50 / p99 | | {latency['p50_100']:.1f} / {latency['p99_100']:.1f} ms |")
    print(f"| `/predict` 1 record, {args.concurrency} concurrent clients | | {latency['throughput']:.0f} req/s, p50 {latency['p50_loaded']:.1f} ms |")
    print(f"| cold start: import handler + load champion | | {cold['import_and_load_s']:.2f} s |")
    print(f"| cold start: ... + first `/predict` through Mangum | <= 1.0 s | {cold['first_response_s']:.2f} s |")
    print(f"| dashboard All regions ({board['zips']} zip codes): script, first run / cached | <= 1 s | {board['first_s']:.2f} / {board['warm_s']:.2f} s |")
    cold_page, warm_page = board["browser_s"]
    print(f"| dashboard All regions in headless chromium, navigation to four drawn charts: new browser / reload | | {cold_page:.2f} / {warm_page:.2f} s |")


if __name__ == "__main__":
    main()
