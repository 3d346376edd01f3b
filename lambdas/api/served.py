"""The champion a serving process answers with: loaded once, re-checked every `refresh_seconds`.

The pointer (`models/champion.json`) is one small read; the bundle is only reloaded when the pointer names
another run, and a bundle that fails its manifest check is refused while the previous model keeps serving.
What the zips' history lets a request see comes from the champion's serving state (`shared.serving.serving_state`:
one read, caught up whenever the scored months change, which one listing per refresh tells); each refresh also
reads the live months' interval misses the intervals adapt to (one small file); a request for
months before the state's reach takes the full history, built on first need and kept until either changes.
"""

from __future__ import annotations

import logging
import threading
import time

import pandas as pd

from shared.data.history import ZipHistory
from shared.layout import CHAMPION_KEY, PREDICTIONS_PREFIX
from shared.model.bundle import ModelBundle, load_bundle
from shared.serving.champion import ChampionPointer, promotion_history, read_champion
from shared.serving.monitoring import live_misses
from shared.serving.serving_state import ServingState
from shared.serving.system_history import champion_state, history_for, seen_history
from shared.store import ArtifactStore

log = logging.getLogger("housing.api")


class ServedChampion:
    def __init__(self, store: ArtifactStore, refresh_seconds: float, clock=time.monotonic):
        self.store = store
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self.pointer: ChampionPointer | None = None
        self.bundle: ModelBundle | None = None
        self.state: ServingState | None = None
        self.promotions: list[ChampionPointer] = []  # the newest promotions, read when the champion changes
        self._full: tuple[ServingState, ZipHistory] | None = None  # for requests before the state's reach
        self._scored: dict[str, str] | None = None  # the predictions' keys and version tags last loaded
        self.live: dict[int, float] = {}  # the live months' interval misses (shared.serving.monitoring.live_misses)
        self.last_error: str | None = None

    def current(self) -> ModelBundle | None:
        """The bundle to serve now (None before any promotion), re-reading the pointer when it is due."""
        due = self._checked_at is None or self._clock() - self._checked_at >= self.refresh_seconds
        if due:
            with self._lock:
                if self._checked_at is None or self._clock() - self._checked_at >= self.refresh_seconds:
                    self.refresh()
        return self.bundle

    def refresh(self) -> None:
        self._checked_at = self._clock()
        try:
            pointer = read_champion(self.store)
            bundle = self.bundle
            if pointer is None and bundle is not None:  # deleted: the last champion loaded keeps serving
                pointer = self.pointer
                missing = (f"{CHAMPION_KEY} is missing: still serving {bundle.run_id}, the last champion loaded, "
                           "until one is promoted (`housing promote RUN_ID`)")
            else:
                missing = None
            if pointer is not None and (bundle is None or pointer.run_id != bundle.run_id):
                bundle = load_bundle(self.store, pointer.run_id, threads=1)  # requests are small; Lambda serves one at a time
            scored = self.store.tags(PREDICTIONS_PREFIX)  # one listing: has any month been scored since?
            # One small read: a month scored with its prices adds its misses just after its predictions.
            live = live_misses(self.store)
            promoted = self.pointer
            if bundle is not None and (bundle is not self.bundle or scored != self._scored):
                state = champion_state(self.store, bundle, scored)
                _ = state.history  # built here, in init or a refresh, not in the first request it serves
                if bundle is not self.bundle:
                    log.info("serving champion %s", bundle.run_id)
                self.pointer, self.bundle, self.state, self._full, self._scored = pointer, bundle, state, None, scored
            self.live = live
            if bundle is not None and pointer != promoted:  # a promotion since (a rollback to the same run too)
                self.pointer, self.promotions = pointer, promotion_history(self.store)
            self.last_error = missing
        except Exception as exc:  # a broken pointer or bundle must not take down a serving model
            # Said by key: the store's own location (a path, a bucket) is not for API callers.
            self.last_error = f"{type(exc).__name__}: {exc}".replace(self.store.url, "the store")
            log.error("champion refresh failed, still serving %s: %s",
                      self.bundle.run_id if self.bundle else "nothing", self.last_error)

    def history_for(self, raw: pd.DataFrame) -> ZipHistory:
        """What these raw rows may see (`shared.serving.system_history.history_for`), from the state and full history kept."""
        bundle, state = self.bundle, self.state  # one refresh's, whatever another thread does meanwhile
        if bundle is None or state is None:
            raise LookupError("no champion is loaded: a request is answered only with one (lambdas.api.dependencies)")
        return history_for(self.store, bundle, raw, state, full=lambda: self._full_history(bundle, state))

    def _full_history(self, bundle: ModelBundle, state: ServingState) -> ZipHistory:
        with self._lock:
            if self._full is None or self._full[0] is not state:
                self._full = (state, seen_history(self.store, bundle))
            return self._full[1]
