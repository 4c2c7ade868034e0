"""A Python client for a synthd service: upload a table, train with a progress bar, sample a DataFrame.

    from synthd_client import Client
    client = Client("http://localhost:8000", "sk_...")
    job = client.train("adult.csv", epochs=300)            # uploads, queues, follows the job with a progress bar
    rows = client.sample(1000, model=job, conditions={"sex": "Female", "age": (30, 40)})

It needs httpx, pandas, pyarrow and tqdm (not torch, not synthd). Every error the service answers becomes a
`SynthdError` carrying the HTTP status, the service's code and its message."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

__all__ = ["Client", "SynthdError", "FORMATS", "format_for"]
__version__ = "0.1.0"

DEFAULT_URL = "http://127.0.0.1:8000"
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
FINAL = ("succeeded", "failed", "cancelled")
_LOSS_NAMES = {"generator": "G", "discriminator": "D", "conditional": "cond"}


class SynthdError(Exception):
    """An error from the service (or from talking to it): `status` (HTTP, 0 when there was no answer), `code`
    (the service's stable reason, e.g. not_found, invalid_request, dataset_busy) and `message`."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"{code}: {message}" + (f" (HTTP {status})" if status else ""))
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


def format_for(path: str | os.PathLike) -> str:
    """The sample format a file name asks for: .csv, .parquet/.pq, .jsonl/.ndjson."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise SynthdError(0, "invalid_request", f"cannot tell the format of {str(path)!r}: name it .csv, .parquet "
                          "or .jsonl")
    return FORMATS[suffix]


def _id(value: Any, *keys: str) -> str:
    """An id from a string or from a dict the service returned (a job's model_id, a dataset's id...)."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        for key in keys:
            if value.get(key):
                return str(value[key])
    raise SynthdError(0, "invalid_request", f"expected an id or a {keys[0].split('_')[0]} dict, got {value!r}")


def _condition(value: Any) -> str:
    """A condition as the sample routes take it: a value, or lo..hi for a range (either end open)."""
    if isinstance(value, Mapping):
        lo, hi = value.get("min"), value.get("max")
    elif isinstance(value, tuple | list):
        if len(value) != 2:
            raise SynthdError(0, "invalid_request", f"a range is (low, high), got {value!r}")
        lo, hi = value
    else:
        return "true" if value is True else "false" if value is False else str(value)
    return f"{'' if lo is None else lo}..{'' if hi is None else hi}"


class Client:
    """A connection to a synthd service. `url` and `key` default to $SYNTHD_URL and $SYNTHD_KEY."""

    def __init__(self, url: str | None = None, key: str | None = None, timeout: float = 120.0,
                 progress: bool = True, transport: httpx.BaseTransport | None = None) -> None:
        self.url = (url or os.environ.get("SYNTHD_URL") or DEFAULT_URL).rstrip("/")
        key = key or os.environ.get("SYNTHD_KEY")
        if not key:
            raise SynthdError(0, "unauthorized", "no API key: pass key= or set SYNTHD_KEY "
                              "(an operator creates one with `synthd create-key --tenant NAME`)")
        self.progress = progress
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}",
                                                             "User-Agent": f"synthd-client/{__version__}"},
                                 timeout=httpx.Timeout(timeout, connect=10.0), transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- plumbing -------------------------------------------------------------------------------------------
    def _raise(self, response: httpx.Response) -> None:
        if response.status_code < 400:
            return
        response.read()  # a streamed answer's body is not read yet
        try:
            body = response.json()["error"]
            code, message = str(body.get("code", "http_error")), str(body.get("message", ""))
        except Exception:
            code, message = "http_error", response.text[:500] or response.reason_phrase
        retry = response.headers.get("Retry-After")
        raise SynthdError(response.status_code, code, message, float(retry) if retry and retry.isdigit() else None)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a 503 (database or store briefly away) is retried after its Retry-After, three times."""
        for attempt in range(4):
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise SynthdError(0, "unreachable", f"cannot reach {self.url}: {exc}") from exc
            if response.status_code == 503 and attempt < 3 and not isinstance(kwargs.get("content"), Iterator):
                time.sleep(min(10.0, float(response.headers.get("Retry-After", "2") or 2)))
                continue
            self._raise(response)
            return response
        raise AssertionError("unreachable")

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        return None if response.status_code == 204 else response.json()

    # --- datasets ---------------------------------------------------------------------------------------------
    def upload(self, data: pd.DataFrame | str | os.PathLike, name: str | None = None,
               kinds: Mapping[str, str] | None = None) -> dict:
        """Send a table (a DataFrame, or a CSV or Parquet file) and return the dataset with its inferred schema.
        `kinds` overrides inferred column kinds ({"zip": "categorical"})."""
        params: dict[str, str] = {}
        if kinds:
            params["kinds"] = ",".join(f"{column}:{kind}" for column, kind in kinds.items())
        if isinstance(data, pd.DataFrame):
            payload: Any = data.to_csv(index=False).encode("utf-8")
            filename = name or "dataframe.csv"
        else:
            path = Path(data)
            if not path.is_file():
                raise SynthdError(0, "invalid_request", f"no such file: {path}")
            if path.suffix.lower() in (".parquet", ".pq"):
                payload, filename = pd.read_parquet(path).to_csv(index=False).encode("utf-8"), path.stem + ".csv"
            else:
                payload, filename = path.read_bytes(), path.name
            filename = name or filename
        if name:
            params["name"] = name
        return self._json("POST", "/v1/datasets", params=params, files={"file": (filename, payload, "text/csv")})

    def datasets(self) -> list[dict]:
        return self._json("GET", "/v1/datasets")

    def dataset(self, dataset: str | dict) -> dict:
        return self._json("GET", f"/v1/datasets/{_id(dataset, 'id', 'dataset_id')}")

    def delete_dataset(self, dataset: str | dict) -> None:
        """Delete a dataset with its finished jobs and their models (409 dataset_busy while a job runs on it)."""
        self._request("DELETE", f"/v1/datasets/{_id(dataset, 'id', 'dataset_id')}")

    # --- training ---------------------------------------------------------------------------------------------
    def train(self, dataset: pd.DataFrame | str | os.PathLike | dict, wait: bool = True,
              progress: bool | None = None, poll_seconds: float = 1.0, timeout: float | None = None,
              **params: Any) -> dict:
        """Queue training on a dataset (its id or dict), or on a DataFrame or file (uploaded first). `params` are
        the job's knobs (epochs, batch_size, max_seconds, seed, target, column_kinds, ...). With `wait`, follow it
        with a progress bar (epoch, losses, ETA) and return the finished job, whose `model_id` names the model;
        a job that fails or is cancelled raises SynthdError."""
        if isinstance(dataset, pd.DataFrame) or (isinstance(dataset, str | os.PathLike) and Path(dataset).is_file()):
            dataset = self.upload(dataset)
        job = self._json("POST", "/v1/jobs", json={"dataset_id": _id(dataset, "id", "dataset_id"), "params": params})
        return self.wait(job, progress=progress, poll_seconds=poll_seconds, timeout=timeout) if wait else job

    def wait(self, job: str | dict, progress: bool | None = None, poll_seconds: float = 1.0,
             timeout: float | None = None) -> dict:
        """Follow a job until it ends, with a progress bar; the succeeded job, or SynthdError."""
        job_id = _id(job, "id", "job_id")
        show = self.progress if progress is None else progress
        bar = None
        if show:
            from tqdm.auto import tqdm

            bar = tqdm(total=None, unit="epoch", desc=f"training {job_id[:8]}", dynamic_ncols=True)
        deadline = None if timeout is None else time.monotonic() + timeout
        last = 0
        try:
            while True:
                current = self.job(job_id)
                rows = self.history(job_id, since=last)
                if rows:
                    last = rows[-1]["epoch"]
                if bar is not None:
                    bar.total = current["epochs"]
                    bar.update(max(0, current["epoch"] - bar.n))
                    losses = rows[-1]["losses"] if rows else (current.get("losses") or {})
                    post = {_LOSS_NAMES.get(k, k): f"{v:.3f}" for k, v in losses.items() if isinstance(v, int | float)}
                    if current.get("eta_seconds") is not None and current["status"] == "running":
                        post["eta"] = f"{current['eta_seconds']:.0f}s"
                    post["status"] = current["status"]
                    bar.set_postfix(post, refresh=True)
                if current["status"] in FINAL:
                    break
                if deadline is not None and time.monotonic() > deadline:
                    raise SynthdError(0, "timeout", f"job {job_id} still {current['status']} after {timeout}s")
                time.sleep(poll_seconds)
        finally:
            if bar is not None:
                bar.close()
        if current["status"] == "failed":
            raise SynthdError(0, "job_failed", f"job {job_id} failed: {current.get('error')}")
        if current["status"] == "cancelled":
            raise SynthdError(0, "job_cancelled", f"job {job_id} was cancelled")
        return current

    def job(self, job: str | dict) -> dict:
        return self._json("GET", f"/v1/jobs/{_id(job, 'id', 'job_id')}")

    def jobs(self, status: str | None = None, limit: int = 100) -> list[dict]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return self._json("GET", "/v1/jobs", params=params)

    def history(self, job: str | dict, since: int = 0) -> list[dict]:
        """Every completed epoch's losses, after epoch `since`."""
        return self._json("GET", f"/v1/jobs/{_id(job, 'id', 'job_id')}/history", params={"since": since})

    def cancel(self, job: str | dict) -> dict:
        return self._json("POST", f"/v1/jobs/{_id(job, 'id', 'job_id')}/cancel")

    # --- models -----------------------------------------------------------------------------------------------
    def models(self, limit: int = 100) -> list[dict]:
        return self._json("GET", "/v1/models", params={"limit": limit})

    def model(self, model: str | dict) -> dict:
        return self._json("GET", f"/v1/models/{_id(model, 'model_id', 'id')}")

    def delete_model(self, model: str | dict) -> None:
        self._request("DELETE", f"/v1/models/{_id(model, 'model_id', 'id')}")

    def report(self, model: str | dict, path: str | os.PathLike | None = None) -> str:
        """The model's self-contained HTML report (written to `path` too, when given)."""
        html = self._request("GET", f"/v1/models/{_id(model, 'model_id', 'id')}/report.html").text
        if path is not None:
            Path(path).write_text(html, encoding="utf-8")
        return html

    def artifact(self, model: str | dict, path: str | os.PathLike) -> Path:
        """Download the model as a zip (model.safetensors + model.json): unzip it and open it offline with
        `synth.Synthesizer.load(folder)`."""
        target = Path(path)
        with self.http.stream("GET", f"/v1/models/{_id(model, 'model_id', 'id')}/artifact") as response:
            self._raise(response)
            with open(target, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        return target

    # --- sampling ---------------------------------------------------------------------------------------------
    def _sample_call(self, n: int, model: Any, seed: int | None, conditions: Mapping[str, Any] | None,
                     fmt: str) -> tuple[str, dict]:
        params: dict[str, Any] = {"n": int(n), "format": fmt}
        if seed is not None:
            params["seed"] = int(seed)
        for column, value in (conditions or {}).items():
            if column in ("n", "seed", "format", "model_id"):
                raise SynthdError(0, "invalid_request", f"a column named {column!r} cannot be conditioned on here")
            params[column] = _condition(value)
        if model is None:
            return "/sample", params
        return f"/v1/models/{_id(model, 'model_id', 'id')}/sample", params

    def _stream(self, path: str, params: dict, out: Any, progress: bool | None, n: int) -> None:
        show = (self.progress and n >= 100_000) if progress is None else progress
        bar = None
        with self.http.stream("GET", path, params=params) as response:
            self._raise(response)
            if show:
                from tqdm.auto import tqdm

                bar = tqdm(unit="B", unit_scale=True, desc=f"sampling {n:,} rows", dynamic_ncols=True)
            try:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
            finally:
                if bar is not None:
                    bar.close()

    def sample(self, n: int, model: str | dict | None = None, seed: int | None = None,
               conditions: Mapping[str, Any] | None = None, progress: bool | None = None) -> pd.DataFrame:
        """`n` synthetic rows as a DataFrame, moved as Parquet. `model`: an id, a model or a finished job
        (default: your newest model). `conditions`: {column: value} or {column: (low, high)} (None for an open
        end); every row meets each. A progress bar shows for n of 100,000 or more."""
        path, params = self._sample_call(n, model, seed, conditions, "parquet")
        buffer = io.BytesIO()
        self._stream(path, params, buffer, progress, n)
        buffer.seek(0)
        return pd.read_parquet(buffer)

    def sample_to(self, path: str | os.PathLike, n: int, model: str | dict | None = None, seed: int | None = None,
                  conditions: Mapping[str, Any] | None = None, fmt: str | None = None,
                  progress: bool | None = None) -> Path:
        """Stream `n` rows into a file, in the format its extension names (.csv, .parquet, .jsonl) unless `fmt`
        says; nothing is held in memory. A failed call leaves no file behind."""
        target = Path(path)
        fmt = fmt or format_for(target)
        partial = target.with_name(target.name + ".part")
        try:
            with open(partial, "wb") as out:
                self.sample_into(out, n, model, seed, conditions, fmt, progress)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def sample_into(self, out: Any, n: int, model: str | dict | None = None, seed: int | None = None,
                    conditions: Mapping[str, Any] | None = None, fmt: str = "csv",
                    progress: bool | None = None) -> None:
        """Stream `n` rows in `fmt` (csv, parquet, jsonl) into a binary file object (sys.stdout.buffer...)."""
        route, params = self._sample_call(n, model, seed, conditions, fmt)
        self._stream(route, params, out, progress, n)
