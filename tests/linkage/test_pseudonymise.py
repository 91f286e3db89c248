"""Keyed features: contract columns and dtypes, domain separation, determinism, store round trip."""

import hashlib
import hmac

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.derive import subkey
from linkage.pseudonym_store import read_features, read_metadata, write_features
from linkage.pseudonymise import BLOOM_COLUMNS, HASH_COLUMNS, KeyedHasher, PseudonymError, make_features

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))


def records(**columns):
    n = max(len(v) for v in columns.values())
    base = {"export_file": ["a.csv"] * n, "school": ["12AB00"] * n, "row_number": list(range(1, n + 1)),
            "record_key": [f"k{i}" for i in range(n)]}
    return pd.DataFrame({**base, **columns})


def features(frame, secret=SECRET, version=1, **kw):
    return make_features(frame, source="po", secret=secret, key_version=version, **kw)


def test_columns_and_dtypes_follow_the_contract():
    f = features(records(family_name=["van der Linden", None], given_names=["Jan", None], sex=["M", None],
                         **{"link:lln": ["X1", None], "link:naam": ["Piet", None]}),
                 link_kinds={"lln": "code", "naam": "string"})
    assert list(f.columns[:5]) == ["record_id", "label_id", "source", "export_file", "key_version"]
    for column in (*HASH_COLUMNS, "link_lln", "link_naam", "key_version"):
        assert f[column].dtype == np.int64, column
    assert f["sex"].dtype == np.int8 and f["sex"].tolist() == [1, 0]
    for column in (*BLOOM_COLUMNS, "link_naam_bf"):
        assert f[column].dtype == object
    assert "link_lln_bf" not in f.columns
    assert isinstance(f.loc[0, "fam_bf"], bytes) and len(f.loc[0, "fam_bf"]) == 128
    assert f.loc[1, "fam_bf"] is None and f.loc[1, "fam"] == 0 and f.loc[1, "bsn"] == 0
    assert all(len(x) == 32 and int(x, 16) >= 0 for x in f.record_id)
    assert f.attrs["ttp.pseudonym"] == "hmac-sha256/v1"


def test_hash_is_hmac_of_domain_version_value():
    f = features(records(bsn=["123456782"]))
    digest = hmac.digest(subkey(SECRET, "ttp/linkage/hmac/v1"), b"bsn|1|123456782", hashlib.sha256)
    assert f.loc[0, "bsn"] == int.from_bytes(digest[:8], "big", signed=True)


@given(st.lists(st.text(max_size=12), min_size=1, max_size=20))
@settings(max_examples=50)
def test_keyed_hasher_equals_hmac_digest(values):
    key = subkey(SECRET, "x")
    got = KeyedHasher(key).int64("fam", 3, values)
    want = [int.from_bytes(hmac.digest(key, f"fam|3|{v}".encode(), hashlib.sha256)[:8], "big", signed=True)
            for v in values]
    assert got.tolist() == [w or 1 for w in want]


NAME = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10)


@given(NAME)
@settings(max_examples=30, deadline=None)
def test_same_value_same_pseudonym_other_key_field_or_version_differs(name):
    frame = records(family_name=[name, name.upper()], given_names=[name, name], preferred_name=[name, None])
    one, again = features(frame), features(frame)
    assert one.fam.tolist() == again.fam.tolist() and one.fam[0] == one.fam[1] != 0
    assert one.fam_bf[0] == one.fam_bf[1] == again.fam_bf[0]
    assert features(frame, secret=OTHER).fam[0] != one.fam[0]
    assert features(frame, version=2).fam[0] != one.fam[0]
    assert one.given[0] != one.fam[0]  # another field, the same text
    assert one.given1[0] == one.pref[0]  # first given name and roepnaam share a domain on purpose
    assert one.given_bf[0] == one.pref_bf[0] != one.fam_bf[0]


def test_written_variants_give_one_pseudonym():
    f = features(records(family_name=["van der Linden", "Linden, v.d.", "LINDEN", "Lindén"],
                         name_prefix=[None, None, "van der", "vd"]))
    assert f.fam.nunique() == 1 and f.prefix.nunique() == 1 and f.fam_bf.nunique() == 1


def test_double_surname_parts_share_the_family_domain():
    f = features(records(family_name=["Jansen-de Vries", "Jansen", "de Vries"]))
    assert f.fam_a[0] == f.fam[1] and f.fam_b[0] == f.fam[2]
    assert f.fam_b[1] == 0 and f.fam_a[1] == 0


def test_dates_and_swap():
    f = features(records(birth_date=["2012-03-04", "2012-04-03", "2012-03-13", "2012-02-31"]))
    assert f.dob_swap[0] == f.dob[1] and f.dob_swap[1] == f.dob[0]
    assert f.dob_swap[2] == 0 and f.dob[3] == 0
    assert f.dob_y[0] == f.dob_y[1] and f.dob_md[0] != f.dob_md[1] and f.dob_ym[0] == f.dob_ym[2]


def test_postcode_area_and_identifiers():
    f = features(records(postcode=["1234 AB", "1234AC", "12"], bsn=["123456782", "12345678", None]))
    assert f.pc4[0] == f.pc4[1] != 0 and f.pc[0] != f.pc[1] and f.pc4[2] == 0
    assert f.bsn[2] == 0 and f.bsn[1] != 0


def test_ids_are_keyed_per_source_file_and_school():
    frame = pd.DataFrame({"export_file": ["a.csv", "b.csv"], "school": ["12AB00", "12AB00"],
                          "record_key": ["k1", "k1"]})
    f = features(frame)
    assert f.record_id[0] != f.record_id[1] and f.label_id[0] == f.label_id[1]
    g = make_features(frame, source="vo", secret=SECRET, key_version=1)
    assert g.record_id[0] != f.record_id[0]
    assert "k1" not in "".join(f.astype(str).to_numpy().ravel())


def test_user_errors_name_the_row_not_the_value():
    with pytest.raises(PseudonymError, match="row 2"):
        features(pd.DataFrame({"export_file": ["a", "a"], "record_key": ["k", None]}))
    with pytest.raises(PseudonymError, match="32 bytes"):
        features(records(bsn=["1"]), secret=b"short")
    with pytest.raises(PseudonymError, match="unknown kind"):
        features(records(bsn=["1"]), link_kinds={"x": "fuzzy"})


def test_nan_and_empty_are_missing():
    f = features(records(family_name=[np.nan, "", "  "], bsn=[None, np.nan, ""]))
    assert (f.fam == 0).all() and (f.bsn == 0).all() and f.fam_bf.isna().all()


def test_store_round_trip_with_metadata(tmp_path):
    f = features(records(family_name=["de Vries", None], **{"link:naam": ["x", None]}),
                 link_kinds={"naam": "string"})
    path = tmp_path / "features.parquet"
    write_features(f, path)
    meta = read_metadata(path)
    assert meta["ttp.pseudonym"] == "hmac-sha256/v1"
    assert meta["ttp.bloom"]["length"] == 1024 and meta["ttp.bloom"]["diffusion"] >= 1
    back = read_features(path)
    pd.testing.assert_frame_equal(back, f)
    assert list(tmp_path.iterdir()) == [path]


def test_store_refuses_other_parquet(tmp_path):
    path = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(path)
    with pytest.raises(PseudonymError, match="pseudonym scheme none, not hmac-sha256/v1"):
        read_features(path)


def test_store_refuses_features_of_other_bloom_parameters(tmp_path):
    from linkage.bloom import BloomParams
    from linkage.pseudonym_store import FeatureWriter

    f = features(records(family_name=["de Vries", "Jansen"]))
    path = tmp_path / "features.parquet"
    write_features(f, path)
    other = dict(BloomParams().as_metadata(), length=2048)
    with pytest.raises(PseudonymError, match="other parameters than the rest"):
        read_features(path, other)
    assert read_features(path, f.attrs["ttp.bloom"]).shape == f.shape
    # a chunk made with other parameters than the file's is refused while writing
    writer = FeatureWriter(tmp_path / "chunks.parquet", other, key_version=1)
    with pytest.raises(PseudonymError, match="other Bloom parameters"):
        writer.write(f)
    # chunk by chunk gives the same file as at once
    chunked = FeatureWriter(tmp_path / "two.parquet", f.attrs["ttp.bloom"], key_version=1)
    chunked.write(f.iloc[:1])
    chunked.write(f.iloc[1:])
    chunked.close()
    pd.testing.assert_frame_equal(read_features(tmp_path / "two.parquet"), f)
