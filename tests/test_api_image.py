"""The API as its container image will hold it: only the lock file's runtime + `api` packages, slimmed by
docker/slim-site-packages.sh --api (as Dockerfile.lambda's api target does), in a fresh interpreter that can
import nothing else. The Lambda handler must answer ALB events from that, with no training stack loaded."""

from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks.image_packages import BASE_PYTHON, run_env, site_packages
from tests.api_support import records_from

pytestmark = pytest.mark.slow

PROGRAM = """
import json, sys
from lambdas.api.handler import handler
def alb(method, path, query=None, body=None):
    event = {"requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/api/1"}},
             "httpMethod": method, "path": path, "queryStringParameters": query or {}, "isBase64Encoded": False,
             "headers": {"host": "alb", "content-type": "application/json"}, "body": body or ""}
    return handler(event, None)["statusCode"]
statuses = {"health": alb("GET", "/health"), "predict": alb("POST", "/predict", body=sys.argv[1]),
            "summary": alb("GET", "/summary", {"year": "2023", "month": "12"}),
            "predictions": alb("GET", "/predictions", {"year": "2023", "month": "12"})}
print(json.dumps({"statuses": statuses, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_api_answers_from_its_image_packages_alone(trained_store):
    store, _ = trained_store
    import pandas as pd

    raw = pd.read_parquet(store.locate("raw/data.parquet")).tail(3)
    body = json.dumps({"records": records_from(raw)})
    site = site_packages("api")
    env = run_env(site, HOUSING_STORE=store.url)
    result = subprocess.run([BASE_PYTHON, "-S", "-c", PROGRAM, body], env=env, capture_output=True, text=True,
                            cwd="/", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["statuses"] == {"health": 200, "predict": 200, "summary": 200, "predictions": 200}
    assert not {"sklearn", "mlflow", "optuna", "scipy.stats"} & set(answer["loaded"])
    assert not (site / "sklearn").exists() and not (site / "scipy" / "optimize").exists()
    # What a cold start imports was compiled at build time (Lambda cannot write bytecode at run time).
    assert list((site / "fastapi" / "__pycache__").glob("*.pyc"))
