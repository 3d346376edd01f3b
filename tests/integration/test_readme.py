"""The README's examples do what it says: the curl body is a valid request for a zip code and metro of the
embedded default data, answered by the real app; the documented commands exist with the documented options."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from housing.cli import app as cli
from lambdas.api.app import create_app
from shared.data.synthetic import generate

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def curl_bodies() -> list[dict]:
    """The JSON bodies of the README's `curl ... /predict -d '...'` examples."""
    return [json.loads(body) for body in re.findall(r"curl [^\n]*/predict[^\n]*\\\n\s*-d '([^']+)'", README)]


def test_the_readme_has_a_predict_example():
    assert curl_bodies()


@pytest.mark.slow
def test_the_curl_example_names_a_zip_of_the_default_data_and_is_answered(trained_store):
    rows, _ = generate()  # the embedded default `housing run` trains on
    store, _ = trained_store
    client = TestClient(create_app(store.url))
    for body in curl_bodies():
        for record in body["records"]:
            zip_rows = rows.loc[rows["zipcode"] == record["zipcode"]]
            assert len(zip_rows), f"zip {record['zipcode']} is not in the default data"
            assert record["city_full"].lower() in {n.lower() for n in zip_rows["city_full"].unique()}
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == len(body["records"])


def readme_commands() -> list[list[str]]:
    """`uv run housing ...` lines of the README's Commands block, as argument lists (comments dropped)."""
    block = README.split("## Commands", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in block.splitlines()]
    return [shlex.split(line)[3:] for line in lines if line.startswith("uv run housing ") and "--help" not in line]


@pytest.mark.parametrize("command", readme_commands(), ids=lambda c: c[0])
def test_every_documented_option_exists(command):
    """Each option the README shows for a command is one its --help lists (brackets and choices aside)."""
    helptext = CliRunner().invoke(cli, [command[0], "--help"], env={"COLUMNS": "200"}).output
    options = {word.strip("[]|") for word in command[1:] if word.strip("[]|").startswith("--")}
    missing = [o for o in options if o not in helptext]
    assert "<bool>" not in helptext, "a flag shown as taking a value"
    assert not missing, f"housing {command[0]}: {missing} not in its --help"


def test_the_context_for_10x_is_one_the_app_takes():
    """The Scale section's `housing` context for 10x the data: valid, and at 10x's rows every stage's modelled
    peak fits what the state machine runs it with (its function, its task or its fallback task, sized from
    the rows; validate from the input's, exact for Parquet, up to CSV_MARGIN over for a CSV)."""
    from infra_cdk.config import load_config
    from infra_cdk.task_sizes import HEADROOM, fargate_fallbacks, placement
    from shared.data.input_rows import CSV_MARGIN

    block = README.split("The `housing` context for 10x, then:")[1].split("\n\n")[1]
    config = load_config(json.loads(block))
    graph = config.pipeline_graph()
    fallbacks = fargate_fallbacks(graph)
    rows = 8_840_920
    where = {}
    for stage, told in [(stage, rows) for stage in graph.stages] + [(graph.stages[0], int(rows * CSV_MARGIN))]:
        runs = placement(stage, fallbacks.get(stage.name), told, config.fargate_max_memory_mb)
        assert stage.peak.mb(rows) * (HEADROOM if runs.compute == "fargate" else 1) <= runs.memory_mb, stage.name
        where[stage.name] = runs.compute
    assert {name for name, compute in where.items() if compute == "fargate"} == {
        "validate", "split", "preprocess", "features", "train", "evaluate", "promote", "batch"}
