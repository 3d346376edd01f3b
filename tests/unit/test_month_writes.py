"""A scored month's two files under concurrent and interrupted writers: compare-and-swap month writes
(both of two scorings at once land) and a summary that names the predictions it sums up (a month whose
summary names other predictions counts as unscored until it is scored again)."""

from __future__ import annotations

import threading

import pytest

from shared.layout import month_predictions_key, month_summary_key
from shared.serving import predictions as scored
from shared.serving.predictions import read_predictions, read_summary, scored_months, write_scored_months
from tests.support.stores import predictions


class Interleaved:
    """A store whose month reads wait until every writer has read: each writer's first attempt then
    starts from the same version, as two scorings racing on AWS do, and all but one must retry."""

    def __init__(self, inner, writers: int):
        self.inner, self.url = inner, inner.url
        self.barrier = threading.Barrier(writers, timeout=10)
        self.first_reads = threading.local()

    def read_tagged(self, key):
        out = self.inner.read_tagged(key)
        if key.endswith("predictions.parquet") and not getattr(self.first_reads, "done", False):
            self.first_reads.done = True
            self.barrier.wait()
        return out

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_two_scorings_of_the_same_month_at_once_both_land(any_store):
    write_scored_months(any_store, predictions(range(100, 130)))  # the month exists: both read it first
    racing = Interleaved(any_store, writers=2)
    halves = [predictions(range(1000, 1030), 200_000.0), predictions(range(2000, 2030), 400_000.0)]
    errors = []

    def score(part):
        try:
            write_scored_months(racing, part)
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=score, args=(part,)) for part in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    month = read_predictions(any_store, 2023, 6)
    assert sorted(month["zipcode"]) == [*range(100, 130), *range(1000, 1030), *range(2000, 2030)]
    assert scored_months(any_store) == {(2023, 6)}
    everywhere = read_summary(any_store).set_index("metro").loc[scored.ALL_REGIONS]
    assert everywhere["count"] == 90 and everywhere["mean_actual"] == pytest.approx(month["actual"].mean())


def test_a_writer_that_keeps_losing_says_so_and_leaves_the_month_whole(any_store, monkeypatch):
    write_scored_months(any_store, predictions(range(10)))
    before = any_store.read_bytes(month_predictions_key(2023, 6))
    monkeypatch.setattr(any_store, "replace", lambda *a: (_ for _ in ()).throw(scored.ArtifactChanged("raced")))
    with pytest.raises(scored.ArtifactChanged, match="kept changing.*score it again"):
        write_scored_months(any_store, predictions(range(5, 20)))
    assert any_store.read_bytes(month_predictions_key(2023, 6)) == before


def test_a_crash_between_predictions_and_summary_leaves_the_month_unscored_until_scored_again(any_store, monkeypatch):
    write_scored_months(any_store, predictions(range(10), month=5))
    write_scored_months(any_store, predictions(range(10)))

    def crash(*_):
        raise KeyboardInterrupt("killed after the predictions were written")

    with monkeypatch.context() as patched:
        patched.setattr(scored, "_summarize_month", crash)
        with pytest.raises(KeyboardInterrupt):
            write_scored_months(any_store, predictions(range(10, 40)))
    assert any_store.exists(month_summary_key(2023, 6))  # the old summary is still there, but stale
    assert scored_months(any_store) == {(2023, 5)}
    assert set(read_summary(any_store)["month"]) == {5}
    assert len(read_predictions(any_store, 2023, 6)) == 40  # the predictions themselves are whole
    write_scored_months(any_store, predictions(range(35, 40)))  # scoring any of it again repairs the month
    assert scored_months(any_store) == {(2023, 5), (2023, 6)}
    assert read_summary(any_store, 2023, 6).set_index("metro").loc[scored.ALL_REGIONS, "count"] == 40


def test_an_unreadable_predictions_month_is_skipped_and_named_and_rescoring_it_repairs_it(any_store):
    write_scored_months(any_store, predictions(range(10), month=5))
    write_scored_months(any_store, predictions(range(10)))
    key = month_predictions_key(2023, 6)
    any_store.write_bytes(key, any_store.read_bytes(key)[:100])
    unreadable = []
    assert set(read_predictions(any_store, unreadable=unreadable)["month"]) == {5}
    assert len(unreadable) == 1 and unreadable[0].startswith("2023-06") and "housing batch --month 2023-06" in unreadable[0]
    assert scored_months(any_store) == {(2023, 5)}
    write_scored_months(any_store, predictions(range(3)))
    assert len(read_predictions(any_store, 2023, 6)) == 3 and scored_months(any_store) == {(2023, 5), (2023, 6)}
