"""Pieces of the service that need no server: condition parsing, CSV sniffing, the blob store on a
non-local fsspec filesystem, the model cache's bound."""

from __future__ import annotations

import pytest

from app.api.ingest import detect_delimiter, detect_encoding, parse_csv
from app.api.streaming import parse_conditions
from app.core.errors import APIError
from app.storage import BlobStore

SCHEMA = {"columns": [{"name": "sex", "kind": "categorical"}, {"name": "age", "kind": "integer"},
                      {"name": "when", "kind": "datetime"}, {"name": "uid", "kind": "id"}]}


def test_condition_syntax():
    items = [("n", "5"), ("sex", "Female"), ("age", "30..40"), ("when", "2020-01-01..")]
    assert parse_conditions(items, SCHEMA) == {"sex": "Female", "age": {"min": 30.0, "max": 40.0},
                                               "when": {"min": "2020-01-01"}}
    assert parse_conditions([("age", "..18")], SCHEMA) == {"age": {"max": 18.0}}
    assert parse_conditions([("age", "37")], SCHEMA) == {"age": {"min": 37.0, "max": 37.0}}


@pytest.mark.parametrize(("items", "code"), [
    ([("colour", "red")], "unknown_parameter"),
    ([("sex", "a"), ("sex", "b")], "invalid_condition"),
    ([("uid", "3")], "invalid_condition"),
    ([("age", "nan")], "invalid_condition"),
    ([("age", "5..1")], "invalid_condition"),
    ([("sex", "")], "invalid_condition"),
])
def test_bad_conditions(items, code):  # noqa: ANN001
    with pytest.raises(APIError) as err:
        parse_conditions(items, SCHEMA)
    assert err.value.status == 422 and err.value.code == code


def test_sniffing_tabs_pipes_and_bom(tmp_path):  # noqa: ANN001
    for delimiter in ("\t", "|", ";", ","):
        path = tmp_path / "t.csv"
        path.write_bytes(("\ufeffa" + delimiter + "b\n" + "".join(f"{i}{delimiter}x{i}\n" for i in range(30)))
                         .encode("utf-8"))
        assert detect_encoding(path) == "utf-8-sig"
        assert detect_delimiter(path, "utf-8-sig") == delimiter
        assert list(parse_csv(path).frame.columns) == ["a", "b"]


def test_blob_store_on_a_non_local_filesystem(tmp_path):  # noqa: ANN001
    store = BlobStore("memory://synthd-test")
    assert store.local_path("models/x") is None
    src = tmp_path / "model"
    src.mkdir()
    (src / "model.json").write_text("{}")
    (src / "model.safetensors").write_bytes(b"\0" * 10)
    store.put_dir(src, "models/abc")
    out = tmp_path / "out"
    store.get_dir("models/abc", out)
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.safetensors"]
    store.delete("models/abc")
    assert not store.exists("models/abc/model.json")
    with pytest.raises(ValueError):
        store.path("../etc/passwd")


def test_model_cache_keeps_the_most_recently_used(tmp_path):  # noqa: ANN001
    from app.api.model_cache import ModelCache

    loads = []

    class Counting(ModelCache):
        def _load(self, blob_key: str):  # noqa: ANN202
            loads.append(blob_key)
            return object()

    cache = Counting(BlobStore(str(tmp_path)), size=2)
    a = cache.get("a", "models/a")
    cache.get("b", "models/b")
    assert cache.get("a", "models/a") is a  # a hit: no load
    cache.get("c", "models/c")  # evicts b, the least recently used
    assert len(cache) == 2
    cache.get("a", "models/a")
    cache.get("b", "models/b")
    assert loads == ["models/a", "models/b", "models/c", "models/b"]
