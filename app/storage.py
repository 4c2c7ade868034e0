"""The blob store: parsed datasets, checkpoints and model artifacts, under keys the server generates.

A local folder by default; any fsspec URL (s3://bucket/prefix with s3fs installed, gcs://, ...) when
SYNTHD_BLOB_URL says so. Keys look like `datasets/<uuid>.parquet` or `models/<uuid>/`; never user input.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import IO

import fsspec

from app.core.config import Settings

_KEY = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-.]+)*/?$")


class BlobStoreError(RuntimeError):
    """A write to the blob store failed: a full disk, a store that went away, a refused permission."""


class BlobStore:
    def __init__(self, root: str, options: dict | None = None) -> None:
        self.fs, self.root = fsspec.core.url_to_fs(root, **(options or {}))
        self.root = self.root.rstrip("/")
        self.is_local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))
        if self.is_local:
            os.makedirs(self.root, exist_ok=True)

    @classmethod
    def from_settings(cls, settings: Settings) -> BlobStore:
        return cls(settings.blob_root, settings.blob_options)

    def path(self, key: str) -> str:
        if not _KEY.match(key) or ".." in key:
            raise ValueError(f"bad blob key {key!r}")
        return f"{self.root}/{key.rstrip('/')}"

    def local_path(self, key: str) -> Path | None:
        """The file or folder on this machine's disk, when the store is a local folder."""
        return Path(self.path(key)) if self.is_local else None

    def put_file(self, local: str | os.PathLike, key: str) -> None:
        target = self.path(key)
        try:
            if self.is_local:
                os.makedirs(os.path.dirname(target), exist_ok=True)
            self.fs.put_file(str(local), target)
        except Exception as exc:
            raise BlobStoreError(f"the blob store at {self.root} refused a write of {key} "
                                 f"({type(exc).__name__}: {exc})") from exc

    def put_dir(self, local_dir: str | os.PathLike, prefix: str) -> None:
        """Upload every file of `local_dir` under `prefix`. All or nothing: when one file fails, the ones
        already written are removed (best effort) before the error is raised."""
        try:
            for name in sorted(os.listdir(local_dir)):
                full = os.path.join(local_dir, name)
                if os.path.isfile(full):
                    self.put_file(full, f"{prefix.rstrip('/')}/{name}")
        except BlobStoreError:
            with contextlib.suppress(Exception):  # the store is failing; the sweep removes what is left
                self.delete(prefix)
            raise

    def get_dir(self, prefix: str, local_dir: str | os.PathLike) -> None:
        os.makedirs(local_dir, exist_ok=True)
        for remote in self.fs.ls(self.path(prefix), detail=False):
            self.fs.get_file(remote, os.path.join(str(local_dir), os.path.basename(remote.rstrip("/"))))

    def get_file(self, key: str, local: str | os.PathLike) -> None:
        self.fs.get_file(self.path(key), str(local))

    def open(self, key: str, mode: str = "rb") -> IO:
        return self.fs.open(self.path(key), mode)

    def children(self, prefix: str) -> list[tuple[str, bool]]:
        """(name, is_folder) of each entry directly under `prefix`; [] when there is no such folder."""
        try:
            entries = self.fs.ls(self.path(prefix), detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for entry in entries:
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            out.append((name, entry.get("type") == "directory"))
        return out

    def age_seconds(self, key: str, now: float) -> float | None:
        """Seconds since the newest write under `key` (a file or a folder); None when it cannot be told."""
        path = self.path(key)
        try:
            if self.fs.isdir(path):
                infos = list(self.fs.find(path, detail=True).values()) or [self.fs.info(path)]
            else:
                infos = [self.fs.info(path)]
        except FileNotFoundError:
            return None
        stamps = [_mtime(info) for info in infos]
        if any(stamp is None for stamp in stamps):
            return None
        return now - max(stamps)

    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def delete(self, key: str) -> None:
        """Remove a file or a whole prefix; missing is fine."""
        path = self.path(key)
        try:
            if self.fs.isdir(path):
                self.fs.rm(path, recursive=True)
            elif self.fs.exists(path):
                self.fs.rm(path)
        except FileNotFoundError:
            pass


def _mtime(info: dict) -> float | None:
    """A modification time in epoch seconds from an fsspec info dict (local: mtime; S3: LastModified)."""
    value = info.get("mtime", info.get("LastModified", info.get("last_modified", info.get("created"))))
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
