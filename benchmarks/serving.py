"""Serving benchmarks on full-size data; prints a Markdown table.

    uv run python benchmarks/serving.py [--store DIR] [--trials 5] [--requests 1000] [--concurrency 4]

1. Builds (or reuses) a full-size store: `housing run` on the 884,092-row synthetic set.
2. `/predict` latency: `housing serve` (uvicorn, one worker) in its own process; the load generator is this
   script: Python's http.client over keep-alive connections, sequential for p50/p99, then N threads for
   throughput. Client and server share the machine's 2 cores.
3. Cold start: the API image (built by docker/build-local.sh) started as Lambda starts it, from the
   container's start to the end of init and to the first answered /predict (see `cold_start`).
4. Dashboard "All regions": the Streamlit script run by AppTest on the full-size store, first (nothing
   cached) and again (Streamlit's cache warm); then a fresh Streamlit server in headless chromium, from
   navigation until all five charts are drawn.
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

from shared.champion import read_champion  # noqa: E402
from shared.store import open_store  # noqa: E402
from tests.api_support import alb_event, records_from  # noqa: E402
from tests.browser_support import free_port  # noqa: E402


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


def cold_start(store_url: str, runs: int = 5) -> dict[str, float]:
    """The API image started as Lambda starts it (tests/containers.py: entry point + CMD, unprivileged user,
    read-only task root, the runtime interface client polling a Runtime API server), the champion read from
    moto's S3 server on loopback: seconds from the container's start to the end of init (the runtime's first
    poll) and to the first answered /predict; medians of `runs`. Also the cost of starting any process in a
    container here (`buildah run ... true`), which a real Lambda's start does not share."""
    import boto3

    from tests.containers import IMAGES, LambdaFunction, container, moto_s3_server

    subprocess.run(["bash", str(ROOT / "docker" / "build-local.sh")], check=True)
    store = open_store(store_url)
    champion = read_champion(store)
    event = alb_event("POST", "/predict", body=json.dumps({"records": sample_records(store_url, 1)}))
    samples = []
    with moto_s3_server() as aws, container(IMAGES["api"]) as box:
        s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="bench")
        for key in store.list("models/") + store.list(champion.bundle_prefix):
            s3.put_object(Bucket="bench", Key=key, Body=store.read_bytes(key))
        started = time.perf_counter()
        box.run(["true"], {})
        bare_s = time.perf_counter() - started
        for _ in range(runs):
            function = LambdaFunction(box, box.config.cmd[0], {"HOUSING_STORE": "s3://bench", **aws}, name="api")
            try:
                function.start()
                response = function.invoke(event)
                answered = time.perf_counter()
                assert response["statusCode"] == 200, (response, function.output())
                samples.append({"init_s": function.runtime.first_poll_at - function.started_at,
                                "first_response_s": answered - function.started_at})
            finally:
                function.close()
    return {"bare_s": bare_s, **{key: statistics.median(s[key] for s in samples) for key in samples[0]}}


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
    """Seconds from navigation until headless chromium shows all five charts: a new browser on a fresh
    Streamlit server (downloads Streamlit's front end), then a reload."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.browser_support import chromium, dashboard_server

    def load(browser, url: str) -> float:
        started = time.perf_counter()
        browser.get(url)
        WebDriverWait(browser, 120).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")) >= 5)
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
    cold = cold_start(store_url)
    board = dashboard_all_regions(store_url)
    print("| measure | target | measured |\n| --- | --- | --- |")
    print(f"| `/predict` 1 record, p50 / p99 (sequential, keep-alive) | <= 10 / 50 ms | {latency['p50_1']:.1f} / {latency['p99_1']:.1f} ms |")
    print(f"| `/predict` 100 records, p50 / p99 | | {latency['p50_100']:.1f} / {latency['p99_100']:.1f} ms |")
    print(f"| `/predict` 1 record, {args.concurrency} concurrent clients | | {latency['throughput']:.0f} req/s, p50 {latency['p50_loaded']:.1f} ms |")
    print(f"| API image cold start: container start to end of init (handler imported, champion loaded from S3) | | {cold['init_s']:.2f} s |")
    print(f"| API image cold start: container start to first answered `/predict` | <= 1.0 s | {cold['first_response_s']:.2f} s |")
    print(f"| (of which starting any process in a container here, `buildah run ... true`) | | {cold['bare_s']:.2f} s |")
    print(f"| dashboard All regions ({board['zips']} zip codes): script, first run / cached | <= 1 s | {board['first_s']:.2f} / {board['warm_s']:.2f} s |")
    cold_page, warm_page = board["browser_s"]
    print(f"| dashboard All regions in headless chromium, navigation to five drawn charts: new browser / reload | | {cold_page:.2f} / {warm_page:.2f} s |")


if __name__ == "__main__":
    main()
