"""The demo cohort as a link job sees it: generated, read by the connectors, pseudonymised; plus labels."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

SOURCES = ("vve", "po", "vo", "mbo")
SECRET = bytes(range(32))


def load_demo(out_dir: Path, persons: int = 5000, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features of all five sources, labels with record_id, source, entity_id, twin_of)."""
    from connectors import open_export
    from connectors.profile import load_profile
    from linkage.pseudonymise import make_features
    from ttp.demo.generate import generate_cohort

    out_dir = Path(out_dir)
    if not (out_dir / "truth.csv").exists():
        generate_cohort(out_dir, persons=persons, seed=seed)
    frames, keys_of = [], []
    for source in SOURCES:
        if source == "po":
            export = open_export(sorted((out_dir / "po").glob("*.xml")), fmt="edexml")
        else:
            export = open_export(out_dir / f"{source}.csv", profile=load_profile(out_dir / f"{source}.toml"))
        records = pd.concat([c.records for c in export.chunks()], ignore_index=True)
        keys_of.append(pd.DataFrame({"source": source, "school": records["school"].fillna("").astype(str),
                                     "record_key": records["record_key"].astype(str)}))
        frames.append(make_features(records, source=source, secret=SECRET, key_version=1,
                                    link_kinds=export.link_kinds))
    features = pd.concat(frames, ignore_index=True)
    keys = pd.concat(keys_of, ignore_index=True)
    keys["record_id"] = features["record_id"].to_numpy()
    truth = pd.read_csv(out_dir / "truth.csv", dtype=str, keep_default_na=False)
    truth = truth[truth["record_key"] != ""]
    # truth.csv names the school for po only; the other sources are matched on their record key
    with_school = truth[truth["school"] != ""].merge(keys, on=["source", "school", "record_key"])
    without = truth[truth["school"] == ""].drop(columns="school").merge(keys, on=["source", "record_key"])
    lab = pd.concat([with_school, without], ignore_index=True)
    lab["twin_of"] = lab["twin_of"].replace("", None)
    return features, lab[["record_id", "source", "entity_id", "twin_of"]]
