"""The NCO route on the demo: a cbs-delivery made and verified, CBS (played here) reads the identities the TTP
cannot, attaches RINPERSOON, computes a doorstroom table and sends it back; ttp imports it after its own check."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from keys import envelope, identity
from keys.errors import EnvelopeError
from keys.keystore import Keystore
from tests.conftest import Env
from tests.privacy import dump_database, files_under, from_cohort, scan
from ttp.settings import resolve

COHORT = 20
CBS_REQUEST = Path(__file__).resolve().parents[2] / "policies" / "examples" / "cbs" / "nco_doorstroom.toml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo (no release history) on SQLite in a file, kept to copy from."""
    base = tmp_path_factory.mktemp("cbs")
    env = Env(data_dir=base / "data", database_url=f"sqlite:///{base / 'data' / 'ttp.db'}")
    env.data_dir.mkdir()
    result = env.run("--data-dir", str(env.data_dir), "demo", "--cohort", str(COHORT), "--no-history",
                     "--no-feedback", "--json")
    assert result.exit_code == 0, result.output
    return env, json.loads(result.stdout)


def copy_of(demo, tmp_path) -> Env:
    env, _ = demo
    data = tmp_path / "data"
    shutil.copytree(env.data_dir, data)
    return Env(data_dir=data, database_url=f"sqlite:///{data / 'ttp.db'}")


def play_cbs(folder: Path, cbs: X25519PrivateKey) -> tuple[dict[str, str], list[dict]]:
    """CBS's side: open every identity, attach a (synthetic) RINPERSOON per person, and return the
    pseudonym -> RINPERSOON map with the microdata rows."""
    rin_of_identity: dict[str, str] = {}
    rin: dict[str, str] = {}
    with (folder / "identities.csv").open(encoding="ascii") as handle:
        for row in csv.DictReader(handle):
            fields = identity.open_identity(cbs, "cbs", base64.b64decode(row["identity"]))
            # rinnen: the BSN (or birth date, sex and address) looked up in the BRP gives RINPERSOON
            key = json.dumps(fields, sort_keys=True)
            number = rin_of_identity.setdefault(key, f"{int(hashlib.sha256(key.encode()).hexdigest(), 16) % 10**9:09d}")
            rin.setdefault(row["pseudonym"], number)
    with (folder / "microdata.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return rin, rows


def doorstroom(rin: dict[str, str], rows: list[dict], threshold: int) -> bytes:
    """The table CBS's researcher makes inside: per advice, the pupils and those in havo/vwo in leerjaar 3;
    its output check drops what is below the threshold."""
    advice: dict[str, str] = {}
    level: dict[str, str] = {}
    for row in rows:
        person = rin.get(row["pseudonym"])
        if person is None:
            continue
        if row["source"] == "po" and row["po.advies"]:
            advice[person] = row["po.advies"].split("/")[0]
        if row["source"] == "vo" and row["grade"] == "3" and row["vo.niveau"]:
            level[person] = row["vo.niveau"]
    n, high = Counter(), Counter()
    for person, adv in advice.items():
        if person in level:
            n[adv] += 1
            high[adv] += level[person] in ("havo", "vwo")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["advies", "n", "n_havo_vwo"])
    for adv in sorted(n):
        if n[adv] >= threshold and high[adv] in (0, n[adv]) or (high[adv] >= threshold
                                                                  and n[adv] - high[adv] >= threshold):
            writer.writerow([adv, n[adv], high[adv]])
    return out.getvalue().encode()


def test_the_route_end_to_end(demo, tmp_path):
    env, summary = copy_of(demo, tmp_path), demo[1]
    made = summary["cbs"]
    assert made["release_id"] and made["verified"] and made["persons"] > 0 and made["identities"] > 0
    folder = Path(made["dir"]) / "delivery"
    cbs = X25519PrivateKey.from_private_bytes((Path(made["dir"]) / "cbs-standin.key").read_bytes())
    # CBS checks the TTP's signature with the exported verify key; a changed byte fails
    verify_pem = tmp_path / "ttp-verify.pem"
    assert env.run("--as", "officer1", "keys", "export-verify-key", "--out", str(verify_pem)).exit_code == 0
    ttp_key = envelope.load_public(verify_pem.read_bytes(), Ed25519PublicKey)
    manifest = (folder / "manifest.json").read_bytes()
    files = {n: (folder / n).read_bytes() for n in ("microdata.csv", "identities.csv")}
    envelope.verify_release(ttp_key, manifest, (folder / "manifest.sig").read_bytes(), files)
    with pytest.raises(EnvelopeError):
        envelope.verify_release(ttp_key, manifest, (folder / "manifest.sig").read_bytes(),
                                {**files, "microdata.csv": files["microdata.csv"] + b"\n"})
    # the TTP's keys open no identity
    keystore = Keystore.open(resolve(env.data_dir, env.database_url).keystore_path, env.passphrase)
    first = base64.b64decode(next(csv.DictReader(io.StringIO(files["identities.csv"].decode())))["identity"])
    for entry in keystore.entries():
        for key in (envelope.recipient_key(keystore.secret(entry.id)),
                    X25519PrivateKey.from_private_bytes(keystore.secret(entry.id)[:32])):
            with pytest.raises(EnvelopeError):
                identity.open_identity(key, "cbs", first)
    # CBS reads every identity, and they are the cohort's own BSNs (or birth date, sex, postcode, house number)
    rin, rows = play_cbs(folder, cbs)
    assert len(rin) == made["persons"]
    cohort = Path(summary["cohort_dir"])
    ids = from_cohort(cohort)
    opened = [identity.open_identity(cbs, "cbs", base64.b64decode(r["identity"]))
              for r in csv.DictReader(io.StringIO(files["identities.csv"].decode()))]
    assert {o["bsn"] for o in opened if "bsn" in o} <= ids.by_kind["bsn"]
    # nothing in the delivery is a plaintext identifier, nor in anything the TTP wrote or printed
    hits = scan(ids, [folder / n for n in files] + files_under(env.data_dir),
                {"database": dump_database(env.database_url)})
    assert not hits, "identifying values found: " + "; ".join(f"{h.kind} in {h.where}" for h in hits)
    # the doorstroom table comes back out of CBS's output check and is imported after ttp's own rules
    table = tmp_path / "doorstroom.csv"
    table.write_bytes(doorstroom(rin, rows, 10))
    imported = env.run("--as", "operator1", "release", "import", str(table), "--recipient", "cbs", "--delivery",
                       made["release_id"], "--title", "havo/vwo in leerjaar 3 by advice", "--json")
    assert imported.exit_code == 0, imported.output
    doc = json.loads(imported.stdout)
    assert doc["external"] is True and doc["derived_from"] == made["release_id"] and doc["rows"] >= 1
    listed = json.loads(env.run("--as", "officer1", "release", "list", "--json").stdout)["recipient_releases"]
    assert [(r["kind"], r["release_id"]) for r in listed] == [("delivery", made["release_id"]),
                                                              ("external", doc["release_id"])]
    assert json.loads(env.run("--as", "researcher1", "release", "list", "--json").stdout)["recipient_releases"] == []


def test_a_small_cell_from_outside_is_refused_in_one_line(demo, tmp_path):
    env = copy_of(demo, tmp_path)
    delivery = demo[1]["cbs"]["release_id"]
    table = tmp_path / "small.csv"
    for body, words in (("advies,n,n_havo_vwo\nvwo,25,7\n", "line 2: column n_havo_vwo is below the threshold of 10"),
                        ("advies,n,n_havo_vwo\nhavo,25,19\n", "leaves fewer than 10"),
                        ("advies,n\nvwo,3\n", "column n is below the threshold"),
                        ("advies,pct\nvwo,40\n", "the first count column must be `n`")):
        table.write_text(body, encoding="utf-8")
        result = env.run("--as", "operator1", "release", "import", str(table), "--recipient", "cbs", "--delivery",
                         delivery, "--title", "t")
        assert result.exit_code == 1 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    wrong = env.run("--as", "operator1", "release", "import", str(table), "--recipient", "ocw", "--delivery",
                    delivery, "--title", "t")
    assert wrong.exit_code == 1 and "went to cbs" in wrong.stderr
    listed = json.loads(env.run("--as", "officer1", "release", "list", "--json").stdout)["recipient_releases"]
    assert [r["kind"] for r in listed] == ["delivery"]
    assert not list((env.data_dir / "releases").glob("ext_*"))


def test_pseudonyms_differ_per_project_and_the_policy_bounds_the_attributes(demo, tmp_path):
    env = copy_of(demo, tmp_path)
    text = CBS_REQUEST.read_text(encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(text.replace('project = "oml-nco-doorstroom"', 'project = "another-project"'), encoding="utf-8")
    submitted = json.loads(env.run("--as", "researcher1", "request", "submit", str(other), "--json").stdout)
    assert submitted["status"] == "checked", submitted
    own = env.run("--as", "researcher1", "request", "approve", submitted["request_id"], "--reason", "x")
    assert own.exit_code == 1  # a researcher never approves; an officer other than the requester does
    assert env.run("--as", "officer1", "request", "approve", submitted["request_id"], "--reason", "ok").exit_code == 0
    released = env.run("--as", "operator1", "release", submitted["request_id"], "--out", str(tmp_path / "second"))
    assert released.exit_code == 0, released.output
    first = Path(demo[1]["cbs"]["dir"]) / "delivery" / "microdata.csv"

    def pseudonyms(path):
        with path.open(encoding="utf-8") as handle:
            return {r["pseudonym"] for r in csv.DictReader(handle)}

    a, b = pseudonyms(first), pseudonyms(tmp_path / "second" / "microdata.csv")
    assert len(a) == len(b) == demo[1]["cbs"]["persons"] and not a & b  # the same persons, no shared pseudonym
    again = env.run("--as", "operator1", "release", submitted["request_id"], "--out", str(tmp_path / "third"))
    assert again.exit_code == 1 and "released already" in again.stderr
    for old, new in (('"vo.niveau"]', '"vo.niveau", "po.postcode"]'), ('recipient = "cbs"', 'recipient = "ocw"')):
        bad = tmp_path / "bad.toml"
        bad.write_text(text.replace(old, new), encoding="utf-8")
        checked = json.loads(env.run("--as", "researcher1", "request", "submit", str(bad), "--json").stdout)
        assert checked["status"] == "submitted"
        shown = json.loads(env.run("--as", "researcher1", "request", "show", checked["request_id"], "--json").stdout)
        assert shown["check"]["problems"], shown


def doorstroom_by_school(rin: dict[str, str], rows: list[dict], threshold: int) -> tuple[bytes, dict[str, tuple]]:
    """CBS's researcher per primary school (groep 8), all cohorts together, in the layout of docs/nco.md
    (labels school and school_year, counts n and n_havo_vwo, a Total row); what passes the output check,
    with the counts it kept per school."""
    school: dict[str, str] = {}
    level: dict[str, str] = {}
    for row in rows:
        person = rin.get(row["pseudonym"])
        if person is None:
            continue
        if row["source"] == "po" and row["grade"] == "8" and row["po.brin"]:
            school[person] = row["po.brin"]
        if row["source"] == "vo" and row["grade"] == "3" and row["vo.niveau"]:
            level[person] = row["vo.niveau"]
    n, high = Counter(), Counter()
    for person, code in school.items():
        if person in level:
            for key in (code, "Total"):
                n[key] += 1
                high[key] += level[person] in ("havo", "vwo")
    kept = {k: (n[k], high[k]) for k in n
            if n[k] >= threshold and (high[k] in (0, n[k]) or (high[k] >= threshold and n[k] - high[k] >= threshold))}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["school", "school_year", "n", "n_havo_vwo"])
    for key in sorted(kept):
        writer.writerow([key, "Total", *kept[key]])
    return out.getvalue().encode(), kept


def test_a_table_back_from_cbs_shows_in_a_schools_feedback(demo, tmp_path):
    from tests.policies.helpers import pdf_words

    env, summary = copy_of(demo, tmp_path), demo[1]
    made = summary["cbs"]
    folder = Path(made["dir"]) / "delivery"
    cbs = X25519PrivateKey.from_private_bytes((Path(made["dir"]) / "cbs-standin.key").read_bytes())
    rin, rows = play_cbs(folder, cbs)
    data, kept = doorstroom_by_school(rin, rows, 10)
    schools = sorted(k for k in kept if k != "Total")
    assert schools, "the demo has no primary school with ten pupils followed to leerjaar 3"
    table = tmp_path / "by_school.csv"
    table.write_bytes(data)
    title = "Doorstroom naar havo/vwo"
    imported = env.run("--as", "operator1", "release", "import", str(table), "--recipient", "cbs", "--delivery",
                       made["release_id"], "--title", title, "--json")
    assert imported.exit_code == 0, imported.output
    ext_id = json.loads(imported.stdout)["release_id"]
    code = schools[0]
    out = tmp_path / "school.pdf"
    result = env.run("--as", "operator1", "feedback", code, "--out", str(out))
    assert result.exit_code == 0, result.output
    words = pdf_words(out.read_bytes())
    assert f"{title}: havo vwo (CBS)" in words and ext_id in words and "CBS" in words
    n, high = kept[code]
    share = 100 * high / n
    shown = "<5%" if share < 5 else ">95%" if share > 95 else f"{share:.1f}%".replace(".", ",")
    assert shown in words, (shown, words[:2000])
    assert str(n) in words
    # and as a factsheet of its own, for the office only
    sheet = tmp_path / "ext.pdf"
    made_sheet = env.run("--as", "officer1", "factsheet", ext_id, "--out", str(sheet))
    assert made_sheet.exit_code == 0, made_sheet.output
    text = pdf_words(sheet.read_bytes())
    assert title in text and ext_id in text and "% havo vwo (of n)" in text and str(n) in text
    assert env.run("--as", "researcher1", "factsheet", ext_id, "--out", str(tmp_path / "r.pdf")).exit_code == 1
