import numpy as np
import pandas as pd
import pytest

from synth import SynthError, infer_schema

from .conftest import read_dataset


def test_kinds_on_real_tables():
    kinds = infer_schema(read_dataset("king_county", 500)).kinds()
    assert kinds["date"] == "datetime" and kinds["id"] == "id" and kinds["price"] == "integer"
    titanic = infer_schema(read_dataset("titanic"))
    assert titanic["Name"].kind == "id" and titanic["Age"].kind == "continuous"
    assert titanic["Age"].null_rate > 0.1 and titanic["Sex"].kind == "categorical"
    assert infer_schema(read_dataset("bank_marketing", 500, sep=";"))["y"].kind == "boolean"


def test_an_integer_named_as_a_code_is_a_category():
    """A zip code is a label: with up to CODE_MAX_VALUES values it is modelled by its values, so sampled rows hold
    real ones; a count with as many values, or a code with too many, stays a number."""
    kc = infer_schema(read_dataset("king_county", 800))
    assert kc["zipcode"].kind == "integer" and kc["zipcode"].discrete
    assert not kc["sqft_living"].discrete
    rng = np.random.default_rng(0)
    values = rng.integers(0, 60, 600) * 7 + 10_000
    schema = infer_schema(pd.DataFrame({"postal_code": values, "visits": values, "zip": np.arange(600) % 150}))
    assert schema["postal_code"].discrete and not schema["visits"].discrete and not schema["zip"].discrete


def test_constant_boolean_and_override():
    df = pd.DataFrame({"k": [7] * 30, "b": [True, False] * 15, "n": np.arange(30) % 4})
    schema = infer_schema(df, overrides={"n": "categorical"})
    assert schema.kinds() == {"k": "constant", "b": "boolean", "n": "categorical"}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame({"a": []}), "no rows"),
        (pd.DataFrame({"a": [1, 2], "b": [None, None]}), "all null"),
    ],
)
def test_bad_tables_raise_one_clear_error(frame, message):
    with pytest.raises(SynthError, match=message):
        infer_schema(frame)


def test_bad_overrides_are_refused():
    df = pd.DataFrame({"a": ["x", "y"] * 10})
    with pytest.raises(SynthError, match="unknown column"):
        infer_schema(df, overrides={"zz": "categorical"})
    with pytest.raises(SynthError, match="not one of"):
        infer_schema(df, overrides={"a": "fancy"})
    with pytest.raises(SynthError, match="holds text"):
        infer_schema(df, overrides={"a": "continuous"})
