"""The supplier kit end to end: `ttp supply` at the school, `ttp ingest DELIVERY` at the TTP, and its refusals."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from keys.delivery import parse_shared_secret
from keys.keystore import Keystore
from linkage import evaluate as link_evaluate
from linkage.rekey import rekey_ids
from tests.conftest import Env
from tests.privacy import dump_database, files_under, from_cohort, scan
from ttp.demo.generate import generate_cohort

SOURCES = ("vve", "po", "vo", "mbo")
PASS = {"TTP_SUPPLIER_PASSPHRASE": "the school's own passphrase"}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    generate_cohort(out, persons=300, seed=7)
    return out


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """What the coordinating party and the school hold: the shared secret and the school's key pair."""
    folder = tmp_path_factory.mktemp("school")
    runner = Env(data_dir=folder / "unused", database_url="sqlite://")
    assert runner.run("supplier", "new-secret", "--version", "1", "--out", str(folder / "secret.json")).exit_code == 0
    made = runner.run("supplier", "keygen", "--out", str(folder / "school.key"), env=PASS)
    assert made.exit_code == 0, made.output
    return folder


def _ttp_key(env: Env, tmp_path: Path) -> Path:
    out = tmp_path / "ttp-delivery.pem"
    assert env.run("--as", "olga", "keys", "export-delivery-key", "--out", str(out)).exit_code == 0
    return out


def supply(env: Env, cohort: Path, kit: Path, ttp_key: Path, source: str, out: Path, supplier: str = "school"):
    what = ([str(cohort / "po"), "--format", "edexml"] if source == "po"
            else [str(cohort / f"{source}.csv"), "--profile", str(cohort / f"{source}.toml")])
    return env.run("supply", *what, "--source", source, "--supplier", supplier, "--key", str(kit / "school.key"),
                   "--secret", str(kit / "secret.json"), "--ttp-key", str(ttp_key), "--out", str(out), "--json",
                   env=PASS)


def register(env: Env, kit: Path, *extra: str):
    return env.run("--as", "olga", "suppliers", "add", "school", "--public-key", str(kit / "school.key.pub"), *extra)


def _nothing_stored(env: Env) -> None:
    assert json.loads(env.run("--as", "olga", "batches", "list", "--json").stdout)["batches"] == []
    batches = env.data_dir / "batches"
    assert not batches.exists() or not any(batches.iterdir())
    assert "deliveries:" not in dump_database(env.database_url)


def test_deliveries_ingest_and_nothing_identifying_reaches_the_ttp(installed, cohort, kit, tmp_path):
    ttp_key = _ttp_key(installed, tmp_path)
    assert register(installed, kit).exit_code == 0
    for source in SOURCES:
        made = supply(installed, cohort, kit, ttp_key, source, tmp_path / f"{source}.delivery")
        assert made.exit_code == 0, made.output
        supplied = json.loads(made.stdout)
        result = installed.run("--as", "olga", "ingest", str(tmp_path / f"{source}.delivery"), "--json")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        assert (doc["source"], doc["accepted"], doc["quarantined"]) == (source, supplied["accepted"],
                                                                         supplied["quarantined"])
        if supplied["quarantined"]:  # the rejected rows stayed at the school; their reasons travelled
            assert Path(supplied["quarantine_file"]).exists()
            shown = json.loads(installed.run("--as", "olga", "quarantine", "show", doc["batch_id"], "--json").stdout)
            assert all(set(r) == {"export_file", "row_number", "reasons"} for r in shown["rows"])
            kept = installed.run("--as", "olga", "quarantine", "export", doc["batch_id"], "--out",
                                 str(tmp_path / "back.csv"))
            assert kept.exit_code == 1 and "stayed there" in kept.stderr
    run = installed.run("--as", "olga", "link", "run", *SOURCES, "--json")
    assert run.exit_code == 0, run.output
    # everything the TTP wrote and printed, after ingesting deliveries only
    texts = {"printed": "\n".join(installed.printed), "database": dump_database(installed.database_url)}
    hits = scan(from_cohort(cohort), files_under(installed.data_dir), texts)
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits)


def test_the_school_can_open_its_rejected_rows(installed, cohort, kit, tmp_path):
    made = json.loads(supply(installed, cohort, kit, _ttp_key(installed, tmp_path), "vve",
                             tmp_path / "vve.delivery").stdout)
    assert made["quarantined"] >= 1
    out = tmp_path / "rejected.csv"
    opened = installed.run("supplier", "quarantine", str(tmp_path / "vve.delivery"), "--key",
                           str(kit / "school.key"), "--out", str(out), env=PASS)
    assert opened.exit_code == 0, opened.output
    assert len(pd.read_csv(out)) == made["quarantined"]


def _refused(env: Env, delivery: Path, *words: str, extra: dict | None = None) -> None:
    result = env.run("--as", "olga", "ingest", str(delivery), env=extra)
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.stderr


def test_refusals_store_nothing(installed, cohort, kit, tmp_path):
    ttp_key = _ttp_key(installed, tmp_path)
    good = tmp_path / "vo.delivery"
    assert supply(installed, cohort, kit, ttp_key, "vo", good).exit_code == 0
    _refused(installed, good, "unknown supplier 'school'")
    assert register(installed, kit).exit_code == 0
    size = len(good.read_bytes())
    for offset in (9, 20, size // 2, size - 1):  # header, manifest, sealed parts, last byte
        tampered = tmp_path / f"tampered-{offset}.delivery"
        blob = bytearray(good.read_bytes())
        blob[offset] ^= 0x01
        tampered.write_bytes(bytes(blob))
        result = installed.run("--as", "olga", "ingest", str(tampered))
        assert result.exit_code == 1 and len(result.stderr.strip().splitlines()) == 1, result.output
        assert any(w in result.stderr for w in ("altered", "damaged", "not supported")), result.stderr
    _refused(installed, good, "window", extra={"TTP_DELIVERY_MAX_AGE_DAYS": "0"})
    _nothing_stored(installed)
    assert installed.run("--as", "olga", "ingest", str(good)).exit_code == 0
    _refused(installed, good, "replay")


def test_unexpected_secret_version_is_refused(installed, cohort, kit, tmp_path):
    ttp_key = _ttp_key(installed, tmp_path)
    assert register(installed, kit, "--secret-version", "2").exit_code == 0
    delivery = tmp_path / "po.delivery"
    assert supply(installed, cohort, kit, ttp_key, "po", delivery).exit_code == 0
    _refused(installed, delivery, "version 1", "expects version 2")
    _nothing_stored(installed)


def test_a_delivery_older_than_the_window_is_refused(installed, cohort, kit, tmp_path):
    from ttp.ingest import open_source
    from ttp.supply import make_delivery, read_supplier_key, read_ttp_key

    assert register(installed, kit).exit_code == 0
    export = open_source([cohort / "mbo.csv"], cohort / "mbo.toml", None, None)
    stale = tmp_path / "mbo.delivery"
    make_delivery(export, source="mbo", supplier="school", secret=parse_shared_secret(
        (kit / "secret.json").read_text()), signer=read_supplier_key(kit / "school.key", PASS[
            "TTP_SUPPLIER_PASSPHRASE"]), ttp_key=read_ttp_key(_ttp_key(installed, tmp_path)), out=stale,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=15))
    _refused(installed, stale, "longer ago than the 14-day window")
    _nothing_stored(installed)


def _f1_of_job(env: Env, job_id: str, truth: Path, secret: tuple[int, bytes] | None) -> float:
    """Pairwise F1 of a job against the truth; with `secret` the labels are keyed as a supplier keys them,
    then under the TTP's layer (what the TTP cannot do on its own: the test holds both keys)."""
    from ttp.linkjob import PERSON_MAP, label_ids, read_labels
    from ttp.settings import resolve

    settings = resolve(env.data_dir, env.database_url)
    ttp_secret = Keystore.open(settings.keystore_path, env.passphrase).secret("linkage-v1")
    labels = read_labels(truth)
    if secret is None:
        labels["label_id"] = label_ids(labels, ttp_secret, 1)
    else:
        supplied = label_ids(labels, secret[1], secret[0])
        labels["label_id"] = rekey_ids(supplied, ttp_secret, 1, column="label_id")
    features = pd.concat([pq.read_table(p).to_pandas()[["record_id", "label_id", "source"]]
                          for p in sorted((env.data_dir / "batches").glob("*/features.parquet"))])
    person_map = pq.read_table(settings.job_dir(job_id) / PERSON_MAP).to_pandas()
    records = features.merge(person_map[["record_id", "person_id"]], on="record_id")
    labelled = records.merge(labels[["label_id", "entity_id", "twin_of"]], on="label_id", how="inner")
    assert len(labelled) > 0.9 * len(records)
    return link_evaluate.evaluate(records, labelled[["record_id", "source", "entity_id", "twin_of"]])["f1"]


def test_linkage_on_deliveries_is_as_good_as_on_ttp_pseudonyms(installed, cohort, kit, tmp_path):
    direct = installed
    for source in SOURCES:
        what = (["--format", "edexml"] if source == "po" else ["--profile", str(cohort / f"{source}.toml")])
        path = cohort / "po" if source == "po" else cohort / f"{source}.csv"
        assert direct.run("--as", "olga", "ingest", str(path), "--source", source, *what).exit_code == 0
    job = json.loads(direct.run("--as", "olga", "link", "run", *SOURCES, "--json").stdout)["job_id"]
    evaluated = json.loads(direct.run("--as", "olga", "link", "evaluate", job, "--labels",
                                      str(cohort / "truth.csv"), "--json").stdout)["f1"]
    f1_direct = _f1_of_job(direct, job, cohort / "truth.csv", None)
    assert abs(f1_direct - evaluated) < 1e-12  # the test's own evaluation is the command's

    second = Env(data_dir=tmp_path / "second", database_url=f"sqlite:///{tmp_path / 'second.db'}")
    assert second.run("init", "--operator", "olga").exit_code == 0
    ttp_key = _ttp_key(second, tmp_path)
    assert register(second, kit).exit_code == 0
    for source in SOURCES:
        delivery = tmp_path / f"{source}.delivery"
        assert supply(second, cohort, kit, ttp_key, source, delivery).exit_code == 0
        assert second.run("--as", "olga", "ingest", str(delivery)).exit_code == 0
    job2 = json.loads(second.run("--as", "olga", "link", "run", *SOURCES, "--json").stdout)["job_id"]
    refused = second.run("--as", "olga", "link", "evaluate", job2, "--labels", str(cohort / "truth.csv"))
    assert refused.exit_code == 1 and "suppliers' secret" in refused.stderr
    f1_supplied = _f1_of_job(second, job2, cohort / "truth.csv",
                             parse_shared_secret((kit / "secret.json").read_text()))
    assert f1_direct > 0.9
    print(f"F1 on TTP pseudonyms {f1_direct:.6f}, on deliveries {f1_supplied:.6f}")
    assert abs(f1_supplied - f1_direct) <= 0.001, (f1_supplied, f1_direct)


def test_rotation_moves_a_supplier_to_the_new_secret_and_a_new_key(installed, cohort, kit, tmp_path):
    ttp_key = _ttp_key(installed, tmp_path)
    assert register(installed, kit).exit_code == 0
    delivery = tmp_path / "vo.delivery"
    assert supply(installed, cohort, kit, ttp_key, "vo", delivery).exit_code == 0
    moved = installed.run("--as", "pieter", "suppliers", "update", "school", "--secret-version", "2", "--json")
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.stdout)["secret_version"] == 2
    _refused(installed, delivery, "expects version 2")
    # a new signing key: deliveries signed with the old one are refused
    runner = Env(data_dir=tmp_path / "unused", database_url="sqlite://")
    assert runner.run("supplier", "keygen", "--out", str(tmp_path / "new.key"), env=PASS).exit_code == 0
    assert installed.run("--as", "olga", "suppliers", "update", "school", "--public-key",
                         str(tmp_path / "new.key.pub"), "--secret-version", "1").exit_code == 0
    _refused(installed, delivery, "signature does not verify")
    assert installed.run("--as", "rosa", "suppliers", "update", "school", "--secret-version", "3").exit_code == 1
    listed = json.loads(installed.run("--as", "olga", "suppliers", "list", "--json").stdout)["suppliers"]
    assert [(s["name"], s["secret_version"]) for s in listed] == [("school", 1)]
    _nothing_stored(installed)


def test_a_job_never_mixes_supplier_made_and_ttp_made_features(installed, cohort, kit, tmp_path):
    assert register(installed, kit).exit_code == 0
    delivery = tmp_path / "vo.delivery"
    assert supply(installed, cohort, kit, _ttp_key(installed, tmp_path), "vo", delivery).exit_code == 0
    assert installed.run("--as", "olga", "ingest", str(delivery)).exit_code == 0
    assert installed.run("--as", "olga", "ingest", str(cohort / "mbo.csv"), "--source", "mbo", "--profile",
                         str(cohort / "mbo.toml")).exit_code == 0
    mixed = installed.run("--as", "olga", "link", "run", "vo", "mbo")
    assert mixed.exit_code == 1
    assert "pseudonymised in different ways" in mixed.stderr and "by supplier school" in mixed.stderr


def test_a_delivery_is_given_alone_and_an_export_needs_its_source(installed, cohort, kit, tmp_path):
    assert register(installed, kit).exit_code == 0
    delivery = tmp_path / "vo.delivery"
    assert supply(installed, cohort, kit, _ttp_key(installed, tmp_path), "vo", delivery).exit_code == 0
    both = installed.run("--as", "olga", "ingest", str(delivery), "--source", "vo")
    assert both.exit_code != 0 and "names its own source" in both.stderr
    bare = installed.run("--as", "olga", "ingest", str(cohort / "vo.csv"), "--profile", str(cohort / "vo.toml"))
    assert bare.exit_code != 0 and "--source" in bare.stderr
    _nothing_stored(installed)


def test_a_delivery_dated_ahead_is_refused_and_the_supplier_side_checks_its_inputs(installed, cohort, kit,
                                                                                     tmp_path):
    from ttp.ingest import open_source
    from ttp.supply import make_delivery, read_supplier_key, read_ttp_key

    assert register(installed, kit).exit_code == 0
    ttp_key = _ttp_key(installed, tmp_path)
    ahead = tmp_path / "ahead.delivery"
    make_delivery(open_source([cohort / "vve.csv"], cohort / "vve.toml", None, None), source="vve",
                  supplier="school", secret=parse_shared_secret((kit / "secret.json").read_text()),
                  signer=read_supplier_key(kit / "school.key", PASS["TTP_SUPPLIER_PASSPHRASE"]),
                  ttp_key=read_ttp_key(ttp_key), out=ahead, now=dt.datetime.now(dt.UTC) + dt.timedelta(hours=2))
    _refused(installed, ahead, "dated in the future")
    wrong = installed.run("supply", str(cohort / "vve.csv"), "--profile", str(cohort / "vve.toml"),
                                    "--source", "vve", "--supplier", "school", "--key", str(kit / "school.key"),
                                    "--secret", str(kit / "secret.json"), "--ttp-key", str(ttp_key), "--out",
                                    str(tmp_path / "x.delivery"), env={"TTP_SUPPLIER_PASSPHRASE": "not it"})
    assert wrong.exit_code == 1 and "wrong passphrase" in wrong.stderr
    assert not (tmp_path / "x.delivery").exists()
    swapped = installed.run("supply", str(cohort / "vve.csv"), "--profile", str(cohort / "vve.toml"), "--source",
                            "vve", "--supplier", "school", "--key", str(kit / "school.key"), "--secret",
                            str(ttp_key), "--ttp-key", str(ttp_key), "--out", str(tmp_path / "x.delivery"), env=PASS)
    assert swapped.exit_code == 1 and "shared secret file" in swapped.stderr
    assert len(swapped.stderr.strip().splitlines()) == 1
    _nothing_stored(installed)
