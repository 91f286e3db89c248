"""`ttp demo`: the whole chain on a synthetic cohort, from generation to a verified audit log."""

from __future__ import annotations

import os
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from keys import delivery as delivery_file
from keys import envelope
from keys.errors import EnvelopeError

from . import exporting, linkjob
from .app import App
from .auditing import verify
from .deliveries import supersede
from .demo.region import generate_region
from .ingest import open_source
from .progress import Progress
from .recipients import add_recipient, decide_recipient
from .roles import PRIVACY_OFFICER, RESEARCHER
from .settings import make_data_dir, resolve
from .setup import initialise
from .suppliers import add_supplier, delivery_key_pem, receive_delivery
from .supply import make_delivery, write_new
from .users import add_user, grant_role, make_token

OPERATOR_NAME, OFFICER_NAME, RESEARCHER_NAME = "operator1", "officer1", "researcher1"
SECOND_OFFICER = "officer2"  # four eyes on the policy and on the role
EXAMPLES = Path(__file__).resolve().parents[1] / "policies" / "examples"
POLICY_FILE = EXAMPLES / "monitor.toml"
REQUEST_FILE = EXAMPLES / "requests" / "vve_havo_vwo.toml"
CBS_REQUEST = EXAMPLES / "cbs" / "nco_doorstroom.toml"
# The feedback round (docs/feedback.md): one request, approved once, released before the researchers' history
# so the schools' reports come first; the history's tables are then protected together with it.
ROUND_FILE = EXAMPLES / "requests" / "feedback_round.toml"
# The mbo teams' rounds (--mbo), right after it: by prior vo track, then by advice (refused on a small region)
MBO_ROUND_FILES = [EXAMPLES / "requests" / name for name in ("feedback_round_mbo.toml",
                                                             "feedback_round_mbo_advice.toml")]
CBS = "cbs"
# The release history the demo builds: what a researcher comparing schools asks one after another. Each is
# protected together with every release before it (school-level tables, so suppression is exercised).
HISTORY_FILES = [EXAMPLES / "requests" / name for name in (
    "school_advice_havo_vwo.toml", "school_weight_havo_vwo.toml", "advice_position_by_school.toml",
    "test_growth_by_vve.toml")]

LINKED = ["vve", "po", "vo", "mbo"]


def _say(line: str) -> None:
    click.echo(line)


def run_demo(data_dir: Path | None, cohort: int = 300, seed: int = 1, quiet: bool = False,
             history: bool = False, feedback_round: bool = True, mbo_round: bool = False) -> dict:
    """Run every stage once, print a summary (on stderr when `quiet`: stdout is for --json), and return it as a
    document."""
    started = time.monotonic()
    progress = Progress()
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="ttp-demo-")) / "data"
    data_dir = Path(data_dir).resolve()
    # The cohort (plaintext input) and the release (output) live beside the data directory, not in it:
    # the data directory holds only what ttp itself keeps.
    cohort_dir = data_dir.with_name(data_dir.name + "-cohort") if data_dir.name != "data" \
        else data_dir.parent / "cohort"
    release_dir = data_dir.with_name(data_dir.name + "-release") if data_dir.name != "data" \
        else data_dir.parent / "release"
    # CBS's side: the stand-in recipient key, and the delivery that goes into its remote-access environment
    cbs_dir = data_dir.with_name(data_dir.name + "-cbs") if data_dir.name != "data" else data_dir.parent / "cbs"
    if (data_dir / "keystore.ttpkeys").exists():
        raise exporting.TTPError(f"{data_dir} holds a ttp installation already: give an empty --data-dir")
    make_data_dir(data_dir)
    made_passphrase = not os.environ.get("TTP_PASSPHRASE")
    if made_passphrase:
        passphrase = secrets.token_urlsafe(24)
        secret_file = data_dir / "demo-passphrase"
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(passphrase + "\n")
        os.environ["TTP_PASSPHRASE"] = passphrase
    settings = resolve(data_dir, os.environ.get("TTP_DATABASE_URL"))
    app = App(settings=settings)

    progress("generating the synthetic region")
    generated = generate_region(cohort_dir, cohort=cohort, seed=seed)
    progress("initialising")
    initialise(app, OPERATOR_NAME, None)
    app.act_as(OPERATOR_NAME)
    with app.acting("users.add", {"user": OFFICER_NAME}) as act:
        add_user(act, OFFICER_NAME, PRIVACY_OFFICER)
    with app.acting("users.add", {"user": RESEARCHER_NAME}) as act:
        add_user(act, RESEARCHER_NAME, RESEARCHER)
    with app.acting("users.add", {"user": SECOND_OFFICER}) as act:
        add_user(act, SECOND_OFFICER, PRIVACY_OFFICER)  # waits for the first officer
    app.act_as(OFFICER_NAME)
    with app.acting("users.approve", {"user": SECOND_OFFICER}) as act:
        grant_role(act, SECOND_OFFICER, True)
    tokens_file = _write_tokens(app, data_dir, [OPERATOR_NAME, OFFICER_NAME, SECOND_OFFICER, RESEARCHER_NAME])
    app.act_as(OPERATOR_NAME)

    progress("suppliers: the region's shared secret, a signing key per supplier")
    kit = _supplier_kit(app, cohort_dir, sorted({source for _, source, _ in generated.deliveries}))
    progress("CBS as designated recipient (a stand-in key), registered with four eyes")
    cbs_key = _cbs_recipient(app, cbs_dir)
    delivered: dict[tuple[str, str], tuple[str, int, int]] = {}  # (year, source) -> batch, accepted, quarantined
    superseded = []
    for number, (year, source, rel) in enumerate(generated.deliveries, start=1):
        progress(f"supply and ingest {year} {source}")
        # at the supplier: pseudonymised under the shared secret, signed, sealed to the TTP
        export = open_source([cohort_dir / rel], None if source == "po" else cohort_dir / f"{source}.toml",
                             "edexml" if source == "po" else None, None)
        delivery = kit.folder / f"{number:03d}-{year}-{source}.delivery"
        make_delivery(export, source=source, supplier=kit.names[source], secret=kit.secret,
                      signer=kit.keys[source], ttp_key=kit.ttp_key, out=delivery, recipients={CBS: cbs_key})
        # at the TTP: verified, opened, and keyed again under the TTP's own key
        with app.acting("ingest", {"delivery": delivery.name}) as act:
            result = receive_delivery(act, delivery)
        if (year, source) in delivered:  # a corrected delivery of the same year supersedes the first
            with app.acting("batches.supersede", {"batch": delivered[(year, source)][0]}) as act:
                superseded.append(supersede(act, delivered[(year, source)][0], result.batch_id))
        delivered[(year, source)] = (result.batch_id, result.accepted, result.quarantined)
    records: dict[str, dict] = {}
    for (_, source), (_, accepted, quarantined) in delivered.items():
        total = records.setdefault(source, {"accepted": 0, "quarantined": 0, "batches": 0})
        total["accepted"] += accepted
        total["quarantined"] += quarantined
        total["batches"] += 1
    with app.acting("schools.import") as act:
        act.counts["schools"] = exporting.import_schools(act, cohort_dir / "schools.csv")

    progress("linking")
    with app.acting("link.run", {"sources": LINKED}) as act:
        job = linkjob.run_link(act, LINKED, "demo", progress=progress)
    progress("evaluating against the truth")
    with app.acting("link.evaluate", {"job": job["job_id"]}) as act:
        # the demo plays the suppliers too, so it holds their secret to key the labels as they keyed records
        evaluation = linkjob.evaluate_job(act, linkjob.get_job(act.session, job["job_id"]),
                                          linkjob.read_labels(cohort_dir / "truth.csv"), kit.secret)
        linkjob.audit_evaluation(act, evaluation)

    progress("request, approval and release")
    app.act_as(OFFICER_NAME)
    with app.acting("policy.add") as act:
        policy = exporting.add_policy(act, POLICY_FILE, None)
    app.act_as(SECOND_OFFICER)
    with app.acting("policy.approve", {"policy": policy.name}) as act:
        exporting.decide_policy(act, policy.name, policy.version, True)
    request_id, release = _release_one(app, REQUEST_FILE, release_dir)
    progress("the feedback round: one request, a table per indicator and level")
    round_folder = release_dir.with_name(f"{release_dir.name}-feedback")
    round_id: str | None = None
    made_round: dict = {"refused": "not asked for (--no-feedback)"}
    made_mbo: list[dict] = []
    if feedback_round:
        round_id, made_round = _release_one(app, ROUND_FILE, round_folder)
    for path in MBO_ROUND_FILES if feedback_round and mbo_round else []:
        progress(f"the mbo feedback round: {path.stem}")
        folder = release_dir.with_name(f"{release_dir.name}-{path.stem.replace('_', '-')}")
        rid, made = _release_one(app, path, folder)
        made_mbo.append({"request": path.stem, "request_id": rid, "refused": made.get("refused"),
                         "releases": {t["table"]: t["release_id"] for t in made.get("tables", [])},
                         "suppressed": made.get("suppressed"),
                         "release_dir": str(folder) if made.get("tables") else None})
    made_history: list[dict] = []
    for number, path in enumerate(HISTORY_FILES if history else [], start=1):
        progress(f"release history: {path.stem}")
        folder = release_dir.with_name(f"{release_dir.name}-{number}")
        rid, made = _release_one(app, path, folder)
        made_history.append({"request": path.stem, "request_id": rid, "release_id": made.get("release_id"),
                        "suppressed": made.get("suppressed"), "refused": made.get("refused"),
                        "release_dir": str(folder) if made.get("release_id") else None})
    progress("a delivery to CBS remote access (cbs-delivery)")
    cbs_request, cbs_release = _release_one(app, CBS_REQUEST, cbs_dir / "delivery")
    cbs_verified = _verify_cbs(app, cbs_dir / "delivery") if cbs_release.get("release_id") else False
    progress("verifying the audit log")
    app.act_as(OFFICER_NAME)
    audit = verify(app, None, None)
    progress.done()

    summary = {
        "data_dir": str(data_dir),
        "records_by_source": {s: r["accepted"] for s, r in records.items()},
        "quarantined_by_source": {s: r["quarantined"] for s, r in records.items()},
        "job_id": job["job_id"],
        "persons": job["persons"],
        "links_by_source_pair": job["by_source_pair"],
        "precision": evaluation["precision"],
        "recall": evaluation["recall"],
        "f1": evaluation["f1"],
        "twins_merged": evaluation.get("twins_merged"),
        "evaluation_by_source_pair": evaluation.get("by_source_pair", {}),
        "policy": f"{policy.name} v{policy.version}",
        "request_id": request_id,
        "release_id": release["release_id"],
        "history": made_history,
        "feedback_round": {"request_id": round_id, "refused": made_round.get("refused"),
                           "releases": {t["table"]: t["release_id"] for t in made_round.get("tables", [])},
                           "suppressed": made_round.get("suppressed"),
                           "release_dir": str(round_folder) if made_round.get("tables") else None},
        "mbo_rounds": made_mbo,
        "release_dir": str(release_dir),
        "cohort_dir": str(cohort_dir),
        "cohort": cohort,
        "school_years": list(generated.years),
        "deliveries": len(generated.deliveries),
        "suppliers": sorted(kit.names.values()),
        "batches_by_source": {s: r["batches"] for s, r in records.items()},
        "superseded": superseded,
        "suppressed_cells": release["suppressed"],
        "cbs": {"request_id": cbs_request, "release_id": cbs_release.get("release_id"),
                "refused": cbs_release.get("refused"), "persons": cbs_release.get("persons"),
                "identities": cbs_release.get("identities"), "verified": cbs_verified, "dir": str(cbs_dir)},
        "audit_ok": audit["ok"],
        "audit_events": audit["events"],
        "seconds": round(time.monotonic() - started, 1),
        "made_passphrase": made_passphrase,
        "tokens_file": str(tokens_file),
    }
    _print_summary(summary, quiet)
    return summary


@dataclass
class SupplierKit:
    """What the demo's suppliers hold (the region's secret, their signing keys) and the TTP's delivery key."""

    folder: Path
    secret: tuple[int, bytes]
    names: dict[str, str]
    keys: dict[str, Ed25519PrivateKey]
    ttp_key: X25519PublicKey


def _supplier_kit(app: App, cohort_dir: Path, sources: list[str]) -> SupplierKit:
    """One supplier per source, registered at the TTP; the secret and the deliveries stay beside the cohort
    (the suppliers' side), never in the data directory."""
    folder = cohort_dir / "suppliers"
    folder.mkdir(parents=True, exist_ok=True)
    version, text = 1, delivery_file.new_shared_secret(1)
    write_new(folder / "region-secret-v1.json", text.encode(), mode=0o600)
    secret = delivery_file.parse_shared_secret(text)
    names = {source: f"supplier-{source.replace('_', '-')}" for source in sources}
    keys = {source: Ed25519PrivateKey.generate() for source in sources}
    for source in sources:
        with app.acting("suppliers.add", {"supplier": names[source]}) as act:
            add_supplier(act, names[source], envelope.public_pem(keys[source].public_key()), version)
    with app.acting("keys.export-delivery-key"):
        ttp_key = envelope.load_public(delivery_key_pem(app.keystore), X25519PublicKey)
    return SupplierKit(folder, secret, names, keys, ttp_key)


def _cbs_recipient(app: App, cbs_dir: Path) -> X25519PublicKey:
    """CBS's stand-in key pair, the private half beside the data directory (it is CBS's, never the TTP's),
    registered by one officer and approved by the other."""
    cbs_dir.mkdir(parents=True, exist_ok=True)
    key = X25519PrivateKey.generate()
    write_new(cbs_dir / "cbs-standin.key", key.private_bytes_raw(), mode=0o600)
    pem = envelope.public_pem(key.public_key())
    write_new(cbs_dir / "cbs.pem", pem)
    app.act_as(OFFICER_NAME)
    with app.acting("recipients.add", {"recipient": CBS}) as act:
        add_recipient(act, CBS, pem)
    app.act_as(SECOND_OFFICER)
    with app.acting("recipients.approve", {"recipient": CBS}) as act:
        decide_recipient(act, CBS, True)
    app.act_as(OPERATOR_NAME)
    return key.public_key()


def _verify_cbs(app: App, folder: Path) -> bool:
    """What CBS does on arrival: the manifest is signed by the TTP's key and names every file's bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .cbs import read_release

    manifest, signature, files = read_release(folder)
    try:
        envelope.verify_release(envelope.load_public(app.keystore.verify_key_pem(), Ed25519PublicKey), manifest,
                                signature, files)
    except EnvelopeError:
        return False
    return True


def _write_tokens(app: App, data_dir: Path, names: list[str]) -> Path:
    """An API token per demo user, in a file only its owner reads (mode 0600), to go on with the demo's
    installation as any of them: export TTP_TOKEN=..."""
    path = data_dir / "demo-tokens"
    lines = []
    for name in names:
        app.act_as(name)
        with app.acting("users.token", {"user": name}) as act:
            lines.append(f"{name} {act.user.role} {make_token(act)[1]}\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(lines)
    return path


def _release_one(app: App, path: Path, folder: Path) -> tuple[str, dict]:
    """Submit as the researcher, approve as the officer, release as the operator; a refusal is reported."""
    app.act_as(RESEARCHER_NAME)
    with app.acting("request.submit") as act:
        request = exporting.submit(act, path)
    if request.status != "checked":
        return request.id, {"refused": "; ".join(request.check.get("problems", []))}
    app.act_as(OFFICER_NAME)
    with app.acting("request.approve", {"request": request.id}) as act:
        exporting.decide_request(act, request.id, "approve", "demo: the monitor's standard question")
    app.act_as(OPERATOR_NAME)
    try:
        return request.id, exporting.release_request(app, request.id, folder)
    except exporting.Refused as exc:
        return request.id, {"refused": str(exc)}


def _print_summary(s: dict, quiet: bool = False) -> None:
    out = sys.stderr if quiet or (not sys.stdout.isatty() and os.environ.get("TTP_DEMO_QUIET")) else sys.stdout
    w = out.write
    w(f"ttp demo finished in {s['seconds']} s; data directory kept at {s['data_dir']}\n")
    if s["made_passphrase"]:
        w("  TTP_PASSPHRASE was unset: the demo made a random passphrase for its own keystore and stored it in\n"
          f"  {s['data_dir']}/demo-passphrase (mode 0600); export TTP_PASSPHRASE=$(cat that file) to reuse it\n")
    w(f"  API tokens of the demo's users (operator1, officer1, officer2, researcher1) are in {s['tokens_file']}\n"
      "  (mode 0600): export TTP_TOKEN=<a token from it> to act as that user\n")
    w(f"region: {s['cohort']} pupils per year group, school years {s['school_years'][0]} to "
      f"{s['school_years'][-1]}; {s['deliveries']} deliveries ingested\n")
    w(f"  each made by its supplier ({', '.join(s['suppliers'])}): pseudonymised under the region's shared secret,\n"
      "  signed and sealed to the TTP, then verified and keyed again under the TTP's own key\n")
    for done in s["superseded"]:
        w(f"  a corrected {done['source']} delivery of {done['school_year']} superseded batch {done['batch_id']}\n")
    w("records accepted per source over all years (quarantined; deliveries):\n")
    for source, n in s["records_by_source"].items():
        w(f"  {source:<9} {n:>7} ({s['quarantined_by_source'][source]}; {s['batches_by_source'][source]})\n")
    w(f"link job {s['job_id']}: {s['persons']} persons; links per source pair:\n")
    for pair, n in sorted(s["links_by_source_pair"].items()):
        w(f"  {pair:<10} {n:>7}\n")
    w(f"against the truth: precision {s['precision']:.4f}, recall {s['recall']:.4f}, F1 {s['f1']:.4f}"
      f" (twin pairs merged: {s['twins_merged']})\n")
    w(f"request {s['request_id']} under policy {s['policy']} approved and released as {s['release_id']}"
      f" to {s['release_dir']} ({s['suppressed_cells']} cell(s) suppressed)\n")
    fr = s["feedback_round"]
    if fr["releases"]:
        w(f"feedback round {fr['request_id']}: one request, approved once, {len(fr['releases'])} tables released to "
          f"{fr['release_dir']} ({fr['suppressed']} cell(s) suppressed);\n"
          "  a school's report: ttp feedback SCHOOL --out SCHOOL.pdf (docs/feedback.md)\n")
    else:
        w(f"feedback round not released: {fr['refused']}\n")
    for mr in s["mbo_rounds"]:
        if mr["releases"]:
            w(f"{mr['request']} {mr['request_id']}: {len(mr['releases'])} tables released to {mr['release_dir']} "
              f"({mr['suppressed']} cell(s) suppressed);\n"
              "  an mbo team's page: ttp feedback --mbo INSTELLING --out TEAM.pdf (docs/feedback.md)\n")
        else:
            w(f"{mr['request']} not released: {mr['refused']}\n")
    if s["history"]:
        w("release history (each protected together with every release before it):\n")
    else:
        w("release history: not asked for (`ttp demo --history` adds four researchers' tables, each protected "
          "together with\n  every release before it)\n")
    for h in s["history"]:
        if h["release_id"]:
            w(f"  {h['request']:<30} {h['release_id']}  {h['suppressed']:>5} cell(s) suppressed\n")
        else:
            w(f"  {h['request']:<30} not released: {h['refused']}\n")
    cbs = s["cbs"]
    if cbs["release_id"]:
        w(f"delivery to CBS remote access {cbs['release_id']} in {cbs['dir']}/delivery: {cbs['persons']} persons "
          f"under a pseudonym of that project only, {cbs['identities']} identities sealed to CBS (the TTP cannot\n"
          f"  open them); signature {'verified' if cbs['verified'] else 'DOES NOT VERIFY'} (docs/nco.md)\n")
    else:
        w(f"delivery to CBS not made: {cbs['refused']}\n")
    w(f"audit log: {'verified' if s['audit_ok'] else 'DOES NOT VERIFY'} ({s['audit_events']} events)\n")
