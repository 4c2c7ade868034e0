"""Trained models kept loaded in the API process, least recently used evicted first."""

from __future__ import annotations

import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from app.storage import BlobStore


class ModelCache:
    def __init__(self, blobs: BlobStore, size: int, device: str = "cpu") -> None:
        self.blobs, self.size, self.device = blobs, max(1, size), device
        self._models: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}

    def get(self, model_id: str, blob_key: str):  # noqa: ANN201 - a synth.Synthesizer
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
            loading = self._loading.setdefault(model_id, threading.Lock())
        with loading:  # one load per model, however many requests ask at once
            with self._lock:
                if model_id in self._models:
                    return self._models[model_id]
            model = self._load(blob_key)
            with self._lock:
                self._models[model_id] = model
                self._models.move_to_end(model_id)
                while len(self._models) > self.size:
                    self._models.popitem(last=False)
                self._loading.pop(model_id, None)
            return model

    def _load(self, blob_key: str):  # noqa: ANN202
        from synth import Synthesizer

        local = self.blobs.local_path(blob_key)
        if local is not None:
            return Synthesizer.load(str(local), device=self.device)
        with tempfile.TemporaryDirectory(prefix="synthd-model-") as tmp:
            self.blobs.get_dir(blob_key, Path(tmp))
            return Synthesizer.load(tmp, device=self.device)

    def drop(self, model_id: str) -> None:
        """Forget a deleted model."""
        with self._lock:
            self._models.pop(model_id, None)

    def __len__(self) -> int:
        return len(self._models)
