"""validate: check the input and the metros table (on failure quarantine the input with a report), and join
the labelled months of the incoming/ files the run started with."""

from __future__ import annotations

from lambdas.stage import Made, stage_handler
from lambdas.stage_event import StageEvent, log
from shared import schema
from shared.data.plausibility import check_training_file
from shared.data.quarantine import quarantine
from shared.data.split import EmptySplitError, cutoffs, split_masks
from shared.data.tables import InputFormatError, read_frame
from shared.data.validation import ValidationReport, validate_housing, validate_metros
from shared.layout import Artifact
from shared.serving.incoming import with_labelled_months
from shared.store import ArtifactStore


def validate(run: StageEvent, store: ArtifactStore) -> Made:
    report, typed = _read_and_validate(store, run.input_key, validate_housing)
    if report.ok and run.incoming_keys:
        typed, joined = with_labelled_months(store, typed, run.incoming_keys)
        log.info("joined %d labelled row(s) from %s", joined.rows, ", ".join(joined.files) or "no incoming file")
        for key, why in joined.skipped.items():
            log.warning("left out %s: %s", key, why)
    if report.ok:  # the file's own months, zip by zip: a month 1e5x too high must not become training data
        report = check_training_file(report, typed)
    if report.ok:
        try:  # every split must have rows, or the run cannot train or be judged
            run = _with_cutoffs(run, typed)
        except EmptySplitError as err:
            report = ValidationReport.of_file(run.input_key, "empty_split", str(err))
    metros_report, metros = _read_and_validate(store, run.metros_key, validate_metros)
    if not (report.ok and metros_report.ok):
        # Only what is at fault: a bad metros table is kept, the valid housing file is not (and vice versa).
        rejected = {key: r for key, r in ((run.input_key, report), (run.metros_key, metros_report)) if not r.ok}
        quarantine(store, run.run_id, rejected, run_id=run.run_id, input_key=run.input_key, metros_key=run.metros_key)
    log.info("validated %s: %d rows", run.input_key, len(typed))
    return Made({Artifact.VALIDATED: typed, Artifact.METROS: metros}, run=run.model_copy(update={"rows": len(typed)}))


handler = stage_handler("validate", validate)


def _with_cutoffs(ev: StageEvent, typed) -> StageEvent:
    """The event with the split dates decided once, here, from the data (a missing date takes its default),
    after checking that every split has rows: split and the run's record use these dates as they are."""
    train_end, eval_end = cutoffs(typed[schema.DATE], ev.config.train_end, ev.config.eval_end)
    split_masks(typed[schema.DATE], train_end, eval_end)
    return ev.model_copy(update={"config": ev.config.model_copy(update={"train_end": train_end, "eval_end": eval_end})})


def _read_and_validate(store, key: str, validate):
    try:
        return validate(read_frame(store.read_bytes(key), key), source=key)
    except InputFormatError as err:
        return ValidationReport.of_file(key, "format", str(err)), None
