"""The TTP's layer over supplier features: equal stays equal within a domain, Dice is kept, keys differ."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.bloom import as_matrix, dice
from linkage.pseudonymise import make_features
from linkage.rekey import permutation, permute_filters, rekey_features

SUPPLIER, TTP, OTHER = bytes(range(32)), bytes(range(1, 33)), bytes(range(2, 34))


def _records() -> pd.DataFrame:
    return pd.DataFrame({
        "record_key": ["1", "2", "3"], "export_file": "po.csv", "school": "01AB",
        "bsn": ["111222333", None, "111222333"], "family_name": ["Jansen", "Bakker", "Jansen"],
        "given_names": ["Anna Maria", "Piet", "Ana"], "birth_date": ["2012-03-04", "2012-04-03", "2012-03-04"],
        "postcode": ["1234AB", "1234AB", None],
    })


def test_layer_keeps_equalities_and_changes_every_value():
    supplied = make_features(_records(), source="po", secret=SUPPLIER, key_version=1)
    layered = rekey_features(supplied, TTP, 1)
    for column in ("bsn", "fam", "dob", "pc", "dob_swap", "record_id", "label_id"):
        before, after = supplied[column].to_numpy(), layered[column].to_numpy()
        assert ((before[:, None] == before[None, :]) == (after[:, None] == after[None, :])).all(), column
        assert not set(before.tolist()) - {0} & set(after.tolist()), column
    assert (layered["bsn"].to_numpy() == 0).tolist() == (supplied["bsn"].to_numpy() == 0).tolist()
    # a swapped date still meets the other record's date: one domain, one key
    assert set(layered["dob_swap"]) - {0} <= set(layered["dob"]) | set(layered["dob_swap"])
    again = rekey_features(supplied, OTHER, 1)
    assert not set(again["fam"]) & set(layered["fam"])


def test_layer_keeps_dice():
    supplied = make_features(_records(), source="po", secret=SUPPLIER, key_version=1)
    layered = rekey_features(supplied, TTP, 1)
    a, _ = as_matrix(supplied["given_bf"].tolist())
    b, _ = as_matrix(layered["given_bf"].tolist())
    assert np.allclose(dice(a[[0]], a[[2]]), dice(b[[0]], b[[2]]))
    assert (a != b).any()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.binary(min_size=8, max_size=8), min_size=2, max_size=6), st.binary(min_size=32, max_size=32))
def test_permutation_keeps_dice_of_any_filters(filters, key):
    order = permutation(key, 64)
    assert sorted(order.tolist()) == list(range(64))
    before, _ = as_matrix(filters)
    after, _ = as_matrix(permute_filters(filters, key).tolist())
    np.testing.assert_allclose(dice(before[:-1], before[1:]), dice(after[:-1], after[1:]), equal_nan=True)
