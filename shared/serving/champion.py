"""The champion pointer: the one artifact that moves. Serving and batch scoring read it; `promote` is the
one way to move it (the pipeline's promote stage and `housing promote` both call it): verify the bundle,
then a compare-and-swap write, so two runs promoting at once cannot both win against the same champion."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from shared.clock import utc_now
from shared.errors import Conflict, HousingError
from shared.layout import CHAMPION_KEY, PROMOTIONS_PREFIX, Artifact, artifact_key, bundle_prefix, model_card_key, promotion_key
from shared.model.seal import DRIFT_REFERENCE_FILE, HISTORY_FILE, verify_bundle
from shared.reports import EvaluationReport, Headline
from shared.runs import check_run_id
from shared.schema import DATE
from shared.serving.card import model_card
from shared.serving.serving_state import update_state
from shared.settings import Settings
from shared.store import ArtifactChanged, ArtifactExists, ArtifactNotFound, ArtifactStore, frame_of, json_bytes, read_json

log = logging.getLogger("housing.champion")
# `promote(..., compared_with=ANY_CHAMPION)`: move the pointer whatever it names now (a manual promotion).
ANY_CHAMPION = "*"


class ChampionPointer(BaseModel):
    # Validated before anything builds a key from it: a pointer naming "../../x" is corrupt, not a path.
    run_id: Annotated[str, AfterValidator(check_run_id)]
    bundle_prefix: str
    promoted_at: str
    reason: str = Field(description="'gate passed' or a manual promotion note")
    metrics: Headline = Field(default_factory=Headline,
                              description="eval and holdout metrics of the model, the baseline and the champion it replaced")
    previous_run_id: str | None = None
    promoted_by: str | None = Field(None, description="who or what promoted it: the pipeline's gate, or a person's "
                                                      "`housing promote` (user@host)")

    @model_validator(mode="after")
    def _names_its_own_bundle(self) -> ChampionPointer:
        if self.bundle_prefix != bundle_prefix(self.run_id):
            raise ValueError(f"bundle_prefix {self.bundle_prefix!r} is not {self.run_id}'s bundle")
        return self


class CorruptChampion(HousingError):
    """The pointer file is there but is not a champion pointer."""


class ChampionMoved(Conflict):
    """The champion changed after this run was compared with it: promoting now would skip that comparison
    (so trying the same promotion again cannot help: the run must be judged against the new champion)."""

    retryable = False


def _read_pointer(store: ArtifactStore) -> tuple[ChampionPointer | None, str | None]:
    """The pointer and its version tag; (None, None) when there is none yet."""
    try:
        data, tag = store.read_tagged(CHAMPION_KEY)
    except ArtifactNotFound:
        return None, None
    try:
        return ChampionPointer(**json.loads(data)), tag
    except (ValueError, TypeError, ValidationError) as err:
        raise CorruptChampion(f"{CHAMPION_KEY} is not a champion pointer ({type(err).__name__}); "
                              "restore it with `housing promote RUN_ID` (run ids: `housing status`)") from None


def read_champion(store: ArtifactStore) -> ChampionPointer | None:
    return _read_pointer(store)[0]


@dataclass
class Promotion:
    pointer: ChampionPointer
    changed: bool  # False when the run was the champion already
    registry: str  # what the MLflow registry step did, for humans


def promote(store: ArtifactStore, run_id: str, reason: str, settings: Settings,
            compared_with: str | None = ANY_CHAMPION, by: str | None = None) -> Promotion:
    """Point the champion at `run_id`'s verified bundle, then register it in MLflow (if enabled).

    `compared_with` is the champion the run's gate compared with (None: there was none): if the pointer has
    moved since, nothing is written and ChampionMoved says so. The registry is bookkeeping: once the pointer
    has moved, a registry failure is reported in the result, not raised."""
    check_run_id(run_id)
    files = verify_bundle(store, run_id)
    try:
        current, tag = _read_pointer(store)
    except CorruptChampion:
        if compared_with != ANY_CHAMPION:  # a gate compared with a champion: this pointer is not it
            raise
        # The remedy the error names: a manual promotion replaces exactly the corrupt bytes (and nothing a
        # concurrent promotion wrote meanwhile).
        log.warning("%s is corrupt: replacing it with a pointer to %s", CHAMPION_KEY, run_id)
        current, tag = None, store.tag(CHAMPION_KEY)
    current_id = current.run_id if current else None
    if compared_with != ANY_CHAMPION and current_id != compared_with:
        raise ChampionMoved(f"the champion is {current_id or 'none'} now, not {compared_with or 'none'} as when "
                            f"{run_id} was evaluated; run again to compare with the new champion")
    if current and current_id == run_id:
        _record(store, current)  # a promotion that stopped before its record or card (a crash) gets them now
        _write_card(store, run_id, files)
        return Promotion(current, changed=False, registry="unchanged (already the champion)")
    evaluation = artifact_key(run_id, Artifact.EVALUATION)
    pointer = ChampionPointer(
        run_id=run_id,
        bundle_prefix=bundle_prefix(run_id),
        promoted_at=utc_now("microseconds"),
        reason=reason,
        metrics=(EvaluationReport.model_validate(read_json(store, evaluation)).headline() if store.exists(evaluation)
                 else Headline()),
        previous_run_id=current_id,
        promoted_by=by,
    )
    try:
        store.replace(CHAMPION_KEY, json_bytes(pointer.model_dump()), tag)
    except ArtifactChanged:
        raise ChampionMoved(f"another promotion moved the champion while {run_id} was being promoted; "
                            "run again to compare with the new champion") from None
    _record(store, pointer)
    _write_card(store, run_id, files)
    _write_serving_state(store, run_id, files[HISTORY_FILE])
    return Promotion(pointer, changed=True, registry=_register(store, run_id, settings))


def _record(store: ArtifactStore, pointer: ChampionPointer) -> None:
    """The promotion's record in the append-only history (create-only, named by the pointer: writing it
    again is a no-op; a rollback is a new pointer, so a new record)."""
    try:
        store.write_bytes(promotion_key(pointer.promoted_at, pointer.run_id), json_bytes(pointer.model_dump()),
                          create_only=True)
    except ArtifactExists:
        pass


def _write_card(store: ArtifactStore, run_id: str, files: dict[str, bytes]) -> None:
    """The promoted bundle's model card (shared.serving.card), create-only. Bookkeeping: a failure is said, and
    promoting the run again writes it."""
    key = model_card_key(run_id)
    evaluation = artifact_key(run_id, Artifact.EVALUATION)
    try:
        if store.exists(key) or not store.exists(evaluation):
            return
        dates = frame_of(files[HISTORY_FILE], columns=[DATE])[DATE]
        drift = json.loads(files[DRIFT_REFERENCE_FILE]).get("months", {}) if DRIFT_REFERENCE_FILE in files else {}
        card = model_card(run_id, EvaluationReport.model_validate(read_json(store, evaluation)),
                          json.loads(files["metadata.json"]), (f"{dates.min():%Y-%m}", f"{dates.max():%Y-%m}"),
                          float(json.loads(files["calibration.json"])["level"]), sorted(int(m) for m in drift))
        store.write_bytes(key, json_bytes(card.model_dump()), create_only=True)
    except Exception as err:  # the store's own failure modes, a concurrent writer: the pointer has moved either way
        log.warning("no model card written for %s: %s", run_id, err)


def promotion_history(store: ArtifactStore, last: int = 10) -> list[ChampionPointer]:
    """The newest `last` promotions, newest first: the records, and the pointer itself when its record is
    missing (a promotion that stopped before writing it, or one made before the history was kept).
    Records that cannot be read are skipped with a warning."""
    keys = [k for k in store.list(PROMOTIONS_PREFIX) if k.endswith(".json")]
    out = []
    try:
        current = read_champion(store)
    except CorruptChampion:
        current = None
    if current is not None and promotion_key(current.promoted_at, current.run_id) not in keys:
        out.append(current)
    for key in reversed(keys[-last:]):
        try:
            out.append(ChampionPointer.model_validate(read_json(store, key)))
        except (ValueError, ValidationError) as err:
            log.warning("skipped %s: not a promotion record (%s)", key, type(err).__name__)
    return out[:last]


def _write_serving_state(store: ArtifactStore, run_id: str, history_file: bytes) -> None:
    """The new champion's serving state, so the first process serving it reads one file. Bookkeeping: if
    this fails, whoever serves next builds it from the bundle."""
    try:
        update_state(store, run_id, lambda: frame_of(history_file))
    except Exception as err:  # the store's own failure modes; the pointer has moved either way
        log.warning("the champion moved to %s but its serving state was not written: %s", run_id, err)


def _register(store: ArtifactStore, run_id: str, settings: Settings) -> str:
    if not settings.mlflow_registry:
        return "skipped (HOUSING_MLFLOW_REGISTRY=false)"
    from shared.model.registry import register_champion  # MLflow is not installed where only serving runs

    try:
        version = register_champion(store, run_id, settings)
    except Exception as err:  # the tracking store may be unreachable from here (its own failure modes)
        log.warning("the champion moved to %s but the MLflow registry was not updated: %s", run_id, err)
        return f"not updated ({type(err).__name__}: {err})"
    return f"version {version}" if version else "skipped (the run logged no MLflow model)"

