"""Designated recipients: identities sealed to CBS travel through the TTP, which cannot open them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from keys import envelope, identity
from keys.errors import EnvelopeError
from keys.keystore import Keystore
from tests.conftest import Env
from tests.privacy import dump_database, files_under, from_cohort, scan
from tests.ttp.test_supply import PASS, _ttp_key, register
from ttp.demo.generate import generate_cohort
from ttp.settings import resolve


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cohort")
    generate_cohort(out, persons=60, seed=11)
    return out


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    """The school's secret and key, and CBS's key pair (the private half stays at CBS)."""
    folder = tmp_path_factory.mktemp("school")
    runner = Env(data_dir=folder / "unused", database_url="sqlite://")
    assert runner.run("supplier", "new-secret", "--version", "1", "--out", str(folder / "secret.json")).exit_code == 0
    assert runner.run("supplier", "keygen", "--out", str(folder / "school.key"), env=PASS).exit_code == 0
    cbs = X25519PrivateKey.generate()
    (folder / "cbs.pem").write_bytes(envelope.public_pem(cbs.public_key()))
    (folder / "cbs.raw").write_bytes(cbs.private_bytes_raw())
    return folder


def cbs_key(kit: Path) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes((kit / "cbs.raw").read_bytes())


def supply_vo(env: Env, cohort: Path, kit: Path, ttp_key: Path, out: Path, *recipients: str):
    extra = [a for r in recipients for a in ("--recipient", r)]
    return env.run("supply", str(cohort / "vo.csv"), "--profile", str(cohort / "vo.toml"), "--source", "vo",
                   "--supplier", "school", "--key", str(kit / "school.key"), "--secret", str(kit / "secret.json"),
                   "--ttp-key", str(ttp_key), "--out", str(out), "--json", *extra, env=PASS)


def add_cbs(env: Env, kit: Path, approve: bool = True) -> None:
    added = env.run("--as", "olga", "recipients", "add", "cbs", "--public-key", str(kit / "cbs.pem"))
    assert added.exit_code == 0, added.output
    if approve:
        approved = env.run("--as", "pieter", "recipients", "approve", "cbs")
        assert approved.exit_code == 0, approved.output


def test_identities_reach_cbs_through_the_ttp_which_cannot_open_them(installed, cohort, kit, tmp_path):
    add_cbs(installed, kit)
    assert register(installed, kit).exit_code == 0
    made = supply_vo(installed, cohort, kit, _ttp_key(installed, tmp_path), tmp_path / "vo.delivery",
                     f"cbs={kit / 'cbs.pem'}")
    assert made.exit_code == 0, made.output
    supplied = json.loads(made.stdout)
    assert 0 < supplied["identities"]["cbs"] <= supplied["accepted"]
    ingested = installed.run("--as", "olga", "ingest", str(tmp_path / "vo.delivery"), "--json")
    assert ingested.exit_code == 0, ingested.output
    batch = json.loads(ingested.stdout)["batch_id"]
    blobs = pq.read_table(installed.data_dir / "batches" / batch / "identities.parquet").to_pandas()
    assert len(blobs) == supplied["identities"]["cbs"] and set(blobs["recipient"]) == {"cbs"}
    # CBS reads them: the BSNs (or birth date, sex, postcode, house number) of the export
    opened = [identity.open_identity(cbs_key(kit), "cbs", b) for b in blobs["blob"]]
    bsns = {line.split(";")[8] for line in (cohort / "vo.csv").read_text(encoding="utf-8-sig").splitlines()[1:]}
    assert {o["bsn"] for o in opened if "bsn" in o} <= bsns
    assert sum("bsn" in o for o in opened) >= 0.9 * len(opened)
    assert all(set(o) <= {"birth_date", "sex", "postcode", "huisnummer"} for o in opened if "bsn" not in o)
    # the TTP holds every key of its keystore, and none of them opens a blob, whichever way it is used
    keystore = Keystore.open(resolve(installed.data_dir, installed.database_url).keystore_path, installed.passphrase)
    for entry in keystore.entries():
        secret = keystore.secret(entry.id)
        for key in (envelope.recipient_key(secret), X25519PrivateKey.from_private_bytes(secret[:32])):
            with pytest.raises(EnvelopeError):
                identity.open_identity(key, "cbs", blobs["blob"][0])
    texts = {"printed": "\n".join(installed.printed), "database": dump_database(installed.database_url)}
    hits = scan(from_cohort(cohort), files_under(installed.data_dir), texts)
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits)
    events = installed.run("--as", "olga", "audit", "show", "--json")
    assert '"recipients.approve"' in events.stdout and '"recipients.add"' in events.stdout


def test_a_recipient_needs_a_second_officer_and_deliveries_to_others_are_refused(installed, cohort, kit, tmp_path):
    add_cbs(installed, kit, approve=False)
    own = installed.run("--as", "olga", "recipients", "approve", "cbs")
    assert own.exit_code == 1 and "privacy-officer" in own.stderr  # an operator decides nothing
    assert register(installed, kit).exit_code == 0
    ttp_key = _ttp_key(installed, tmp_path)
    made = supply_vo(installed, cohort, kit, ttp_key, tmp_path / "a.delivery", f"cbs={kit / 'cbs.pem'}")
    assert made.exit_code == 0, made.output
    pending = installed.run("--as", "olga", "ingest", str(tmp_path / "a.delivery"))
    assert pending.exit_code == 1 and "pending" in pending.stderr and len(pending.stderr.strip().splitlines()) == 1
    other = X25519PrivateKey.generate()
    (tmp_path / "other.pem").write_bytes(envelope.public_pem(other.public_key()))
    assert installed.run("--as", "pieter", "recipients", "approve", "cbs").exit_code == 0
    swapped = supply_vo(installed, cohort, kit, ttp_key, tmp_path / "b.delivery", f"cbs={tmp_path / 'other.pem'}")
    assert swapped.exit_code == 0
    refused = installed.run("--as", "olga", "ingest", str(tmp_path / "b.delivery"))
    assert refused.exit_code == 1 and "registered key" in refused.stderr
    unknown = supply_vo(installed, cohort, kit, ttp_key, tmp_path / "c.delivery", f"ocw={tmp_path / 'other.pem'}")
    assert unknown.exit_code == 0
    assert "unknown recipient" in installed.run("--as", "olga", "ingest", str(tmp_path / "c.delivery")).stderr
    assert json.loads(installed.run("--as", "olga", "batches", "list", "--json").stdout)["batches"] == []
    bad = supply_vo(installed, cohort, kit, ttp_key, tmp_path / "d.delivery", "cbs")
    assert bad.exit_code != 0 and "NAME=PEM" in bad.stderr and not (tmp_path / "d.delivery").exists()
    assert installed.run("--as", "pieter", "recipients", "add", "ocw", "--public-key", str(tmp_path / "other.pem"),
                         ).exit_code == 0
    mine = installed.run("--as", "pieter", "recipients", "approve", "ocw")
    assert mine.exit_code == 1 and "another privacy officer" in mine.stderr
    listed = json.loads(installed.run("--as", "pieter", "recipients", "list", "--json").stdout)["recipients"]
    assert [(r["name"], r["status"], r["decided_by"]) for r in listed] == [("cbs", "active", "pieter"),
                                                                          ("ocw", "pending", None)]
