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

from shared.serving.champion import read_champion  # noqa: E402
from shared.store import open_store  # noqa: E402
from tests.support.api import alb_event, records_from  # noqa: E402
from tests.support.browser import free_port  # noqa: E402


def full_size_store(path: Path, trials: int) -> str:
    store = open_store(str(path))
    if read_champion(store) is None:
        print(f"building a full-size store in {path} ({trials} trials)...", file=sys.stderr)
        subprocess.run(["housing", "run", "--store", str(path), "--trials", str(trials)], check=True,
                       stdout=subprocess.DEVNULL)
    return str(path)


def sample_records(store_url: str, n: int) -> list[dict]:
    """Production's request: records of the month after the newest one in the data (the data's last month's
    rows moved a month on, without prices)."""
    store = open_store(store_url)
    raw_key = next(k for k in store.list("raw/") if k.endswith((".parquet", ".csv")))
    raw = pd.read_parquet(store.locate(raw_key))
    dates = pd.to_datetime(raw["date"])
    last = raw.loc[dates == dates.max()].assign(date=(dates.max() + pd.offsets.MonthEnd(1)).strftime("%Y-%m-%d"),
                                                price=None)
    return records_from(last.sample(n, random_state=0, replace=n > len(last)))


def serving_init(store_url: str, counts: tuple[int, ...] = (24, 120)) -> dict[int, dict[str, float]]:
    """In-process seconds to load what a serving process needs, with `count` months scored after the data
    (copies of the last scored month moved on, as monthly scoring adds them): the serving state as the API
    reads it (one file, caught up), against the full history (the bundle's months and every scored month)
    that serving read before it. Each on a copy of the champion's part of the store."""
    import shutil
    import tempfile

    from shared.layout import month_predictions_key
    from shared.model.bundle import load_bundle
    from shared.serving.serving_state import update_state
    from shared.serving.system_history import champion_state, seen_history
    from shared.store import parquet_bytes, read_table

    source = open_store(store_url)
    run_id = read_champion(source).run_id
    results = {}
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            for folder in ("models", f"runs/{run_id}/model", "predictions", "serving"):
                if (Path(source.locate(folder))).exists():
                    shutil.copytree(source.locate(folder), Path(tmp) / folder)
            store = open_store(tmp)
            last_key = store.list("predictions/")[-1].replace("summary", "predictions")
            last = read_table(store, last_key)
            newest = pd.Period(last["date"].max(), freq="M")
            for step in range(1, count + 1):
                month = newest + step
                moved = last.assign(date=month.to_timestamp(how="end").normalize(), year=month.year, month=month.month,
                                    actual=float("nan"))
                store.write_bytes(month_predictions_key(month.year, month.month), parquet_bytes(moved))
            bundle = load_bundle(store, run_id)
            update_state(store, run_id, lambda b=bundle: b.labelled)  # as each month's scoring leaves it
            started = time.perf_counter()
            bundle = load_bundle(store, run_id)
            _ = champion_state(store, bundle).history
            state_s = time.perf_counter() - started
            started = time.perf_counter()
            bundle = load_bundle(store, run_id)
            full = seen_history(store, bundle)
            results[count] = {"state_s": state_s, "full_s": time.perf_counter() - started, "full_months": len(full.frame)}
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def post(conn: http.client.HTTPConnection, body: bytes | None) -> float:
    """Seconds for one POST /predict of `body`, or one GET /health when `body` is None."""
    started = time.perf_counter()
    if body is None:
        conn.request("GET", "/health")
    else:
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
        health = []
        for n in (1, 100):
            body = json.dumps({"records": sample_records(store_url, n)}).encode()
            conn = http.client.HTTPConnection("127.0.0.1", port)
            for _ in range(20):
                post(conn, body)  # warm-up
            times = []
            for _ in range(requests if n == 1 else requests // 5):  # interleaved with the floor's requests
                health.append(post(conn, None))
                times.append(post(conn, body))
            results[f"p50_{n}"], results[f"p99_{n}"] = percentile(times, 50) * 1000, percentile(times, 99) * 1000
        results["p50_health"], results["p99_health"] = percentile(health, 50) * 1000, percentile(health, 99) * 1000
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


def cold_start(store_url: str, runs: int = 5, cpus: int | None = None) -> dict[str, float]:
    """The API image started as Lambda starts it (tests/support/containers.py: entry point + CMD, unprivileged user,
    read-only task root, the runtime interface client polling a Runtime API server), the champion read from
    moto's S3 server on loopback: seconds from the container's start to the end of init (the runtime's first
    poll) and to the first answered /predict; medians of `runs`, the container pinned to `cpus` CPUs if
    given. The store holds what serving reads: the champion, its bundle, the scored months and the serving
    state. Also the cost of starting any process in a container here (`buildah run ... true`), which a real
    Lambda's start does not share."""
    import boto3

    from tests.support.containers import IMAGES, LambdaFunction, container, moto_s3_server

    subprocess.run(["bash", str(ROOT / "docker" / "build-local.sh")], check=True)
    store = open_store(store_url)
    champion = read_champion(store)
    event = alb_event("POST", "/predict", body=json.dumps({"records": sample_records(store_url, 1)}))
    samples = []
    with moto_s3_server() as aws, container(IMAGES["api"]) as box:
        s3 = boto3.client("s3", endpoint_url=aws["AWS_ENDPOINT_URL"], region_name=aws["AWS_REGION"],
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="bench")
        for key in store.list("models/") + store.list(champion.bundle_prefix) + store.list("predictions/") + \
                store.list("serving/"):
            s3.put_object(Bucket="bench", Key=key, Body=store.read_bytes(key))
        started = time.perf_counter()
        box.run(["true"], {})
        bare_s = time.perf_counter() - started
        numpy_runs = []
        for _ in range(runs):  # the yardstick: the same container's `python3 -c "import numpy"`
            started = time.perf_counter()
            box.run(["python3", "-c", "import numpy"], {}, cpus=cpus)
            numpy_runs.append(time.perf_counter() - started)
        for _ in range(runs):
            function = LambdaFunction(box, box.config.cmd[0], {"HOUSING_STORE": "s3://bench", **aws}, name="api",
                                      cpus=cpus)
            try:
                function.start()
                response = function.invoke(event)
                answered = time.perf_counter()
                assert response["statusCode"] == 200, (response, function.output())
                samples.append({"init_s": function.runtime.first_poll_at - function.started_at,
                                "first_response_s": answered - function.started_at})
            finally:
                function.close()
    return {"bare_s": bare_s, "numpy_s": statistics.median(numpy_runs),
            **{key: statistics.median(s[key] for s in samples) for key in samples[0]}}


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

    from tests.support.browser import chromium, dashboard_server

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
    parser.add_argument("--only", choices=["latency", "init", "cold"],
                        help="measure only this (latency, init: no image, no browser)")
    parser.add_argument("--cpus", type=int, help="pin the API image's cold start to this many CPUs")
    args = parser.parse_args()
    store_url = full_size_store(args.store.resolve(), args.trials)
    print("| measure | target | measured |\n| --- | --- | --- |")
    if args.only in (None, "init"):
        for count, took in serving_init(store_url).items():
            _row(f"serving process init, in-process, {count} months scored after the data: serving state / full "
                 f"history ({took['full_months']:,} months)", "", f"{took['state_s']:.2f} / {took['full_s']:.2f} s")
    if args.only == "init":
        return
    if args.only == "cold":
        _print_cold(cold_start(store_url, cpus=args.cpus), args.cpus)
        return
    latency = predict_latency(store_url, args.requests, args.concurrency)
    if args.only == "latency":
        _print_latency(latency, args.concurrency)
        return
    cold = cold_start(store_url, cpus=args.cpus)
    board = dashboard_all_regions(store_url)
    _print_latency(latency, args.concurrency)
    _print_cold(cold, args.cpus)
    _row(f"dashboard All regions ({board['zips']} zip codes): script, first run / cached", "<= 1 s",
         f"{board['first_s']:.2f} / {board['warm_s']:.2f} s")
    cold_page, warm_page = board["browser_s"]
    _row("dashboard All regions in headless chromium, navigation to five drawn charts: new browser / reload", "",
         f"{cold_page:.2f} / {warm_page:.2f} s")


def _row(measure: str, target: str, value: str) -> None:
    print(f"| {measure} | {target} | {value} |")


def _print_cold(cold: dict[str, float], cpus: int | None) -> None:
    on = f", pinned to {cpus} CPU(s)" if cpus else ""
    _row(f"API image cold start{on}: container start to end of init (handler imported, champion and serving state "
         "loaded from S3)", "< 10 s (Lambda's init limit)", f"{cold['init_s']:.2f} s")
    _row(f"API image cold start{on}: container start to first answered `/predict`",
         f"<= 2x `import numpy` ({2 * cold['numpy_s']:.2f} s)", f"{cold['first_response_s']:.2f} s")
    _row(f"the same container's `python3 -c \"import numpy\"`{on}", "", f"{cold['numpy_s']:.2f} s")
    _row("(of which starting any process in a container here, `buildah run ... true`)", "", f"{cold['bare_s']:.2f} s")


def _print_latency(latency: dict[str, float], concurrency: int) -> None:
    _row("`GET /health` p50 / p99 (the framework's floor, same server)", "",
         f"{latency['p50_health']:.1f} / {latency['p99_health']:.1f} ms")
    _row("`/predict` 1 record, p50 / p99 (sequential, keep-alive)", "<= 3x health",
         f"{latency['p50_1']:.1f} / {latency['p99_1']:.1f} ms")
    _row("`/predict` 100 records, p50 / p99", "<= 8x health", f"{latency['p50_100']:.1f} / {latency['p99_100']:.1f} ms")
    _row(f"`/predict` 1 record, {concurrency} concurrent clients", "",
         f"{latency['throughput']:.0f} req/s, p50 {latency['p50_loaded']:.1f} ms")


if __name__ == "__main__":
    main()
