"""Link jobs: gather the batches' features, run the matcher, keep the person map, evaluate against labels."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
from sqlalchemy import select

from linkage import evaluate as link_evaluate
from linkage import pseudonym_store as feature_store
from linkage.errors import LinkError
from linkage.guidance import ingest_guidance
from linkage.partitions import write_partitions
from linkage.pipeline import check_link_settings, link
from linkage.pseudonymise import PseudonymError
from linkage.rekey import rekey_ids
from linkage.settings import LinkSettings
from linkage.settings_file import changed_settings, dump_settings, parse_settings, settings_dict

from . import db
from .app import Acting
from .deliveries import refuse_shared_records
from .errors import TTPError
from .ids import new_id
from .ingest import FEATURES
from .staging import left_behind, move_on_commit, staging_folder

PERSON_MAP = "person_map.parquet"
PAIRS = "pairs.parquet"
REPORT = "report.json"
SETTINGS = "settings.toml"


def load_link_settings(path: Path) -> LinkSettings:
    """A link settings file, checked whole before any batch is read; a bad one is one line naming key and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TTPError(f"{path}: cannot read the link settings ({type(exc).__name__})") from None
    try:
        return parse_settings(text, path.name)
    except LinkError as exc:
        raise TTPError(str(exc)) from None


def job_settings(settings, job: db.Job) -> LinkSettings | None:
    """The settings a job ran with; None for a job made before jobs kept them (it ran on the defaults of then)."""
    path = settings.job_dir(job.id) / SETTINGS
    if not path.exists():
        return None
    return parse_settings(path.read_text(encoding="utf-8"), f"job {job.id} {SETTINGS}")
DASK_CONNECT_TIMEOUT = "10s"


def link_batches(session, sources: list[str]) -> list[db.Batch]:
    """Every linkable batch of the named sources in force (none a corrected delivery superseded); a source
    without one is refused."""
    batches = session.scalars(
        select(db.Batch).where(db.Batch.source.in_(sources), db.Batch.attach_to.is_(None),
                               db.Batch.superseded_by.is_(None))
        .order_by(db.Batch.created_at, db.Batch.id)
    ).all()
    missing = sorted(set(sources) - {b.source for b in batches})
    if missing:
        raise TTPError(f"no batch to link for source {', '.join(missing)}: ingest it first")
    versions = {b.key_version for b in batches}
    if len(versions) > 1:
        listing = ", ".join(f"{b.id} (v{b.key_version})" for b in batches)
        raise TTPError(
            f"the batches were pseudonymised under different linkage key versions: {listing}; "
            "re-ingest the older exports under the current key"
        )
    # features a supplier keyed (under a shared-secret version) never equal those the TTP keyed itself
    secrets_used = {b.secret_version for b in batches}
    if len(secrets_used) > 1:
        listing = ", ".join(f"{b.id} ({_made_by(b)})" for b in batches)
        raise TTPError(f"the batches were pseudonymised in different ways: {listing}; link deliveries made "
                       "under one version of the suppliers' secret, or exports the TTP pseudonymised, not both")
    return list(batches)


def _made_by(batch: db.Batch) -> str:
    if batch.secret_version is None:
        return "by the TTP"
    return f"by supplier {batch.supplier}, secret v{batch.secret_version}"


def job_batches(session, job: db.Job) -> list[db.Batch]:
    """The batches a job linked (kept for ever: a superseded batch stays for the jobs made from it)."""
    batches = [session.get(db.Batch, b) for b in job.batch_ids]
    if any(b is None for b in batches):
        raise TTPError(f"link job {job.id}: a batch it linked is gone")
    return [b for b in batches if b is not None]


def read_features(settings, batches: list[db.Batch], session=None) -> pd.DataFrame:
    """The batches' features, through the one feature contract: one scheme, one set of Bloom parameters.
    With a session, two batches holding the same records are refused in one line (see `deliveries`)."""
    frames: list[pd.DataFrame] = []
    for b in batches:
        try:
            frames.append(feature_store.read_features(settings.batch_dir(b.id) / FEATURES,
                                                      frames[0].attrs["ttp.bloom"] if frames else None))
        except PseudonymError as exc:
            raise TTPError(f"batch {b.id} ({b.source}): {exc}") from None
    features = pd.concat(frames, ignore_index=True)
    if session is not None:
        owner = pd.Series([b.id for b, f in zip(batches, frames, strict=True) for _ in range(len(f))])
        refuse_shared_records(features, owner, session)
    return features


def previous_person_map(settings, session) -> tuple[str | None, dict[str, str] | None]:
    """The person map of the newest job, so a new run keeps its ids."""
    job = session.scalars(select(db.Job).order_by(db.Job.created_at.desc(), db.Job.id.desc()).limit(1)).first()
    if job is None:
        return None, None
    path = settings.job_dir(job.id) / PERSON_MAP
    if not path.exists():
        return job.id, None
    frame = pq.read_table(path).to_pandas()
    return job.id, dict(zip(frame["record_id"], frame["person_id"], strict=True))


def review_decisions(session) -> dict[tuple[str, str], str]:
    return {(r.record_id_l, r.record_id_r): r.decision for r in session.scalars(select(db.ReviewDecision))}


def run_link(act: Acting, sources: list[str], name: str | None, progress=None,
             link_settings: LinkSettings | None = None, engine: str = "local", scheduler: str | None = None) -> dict:
    """Link the named sources into persons; the job's files and row commit with its audit event. The
    settings used are kept with the job as a complete settings file, and named in the report.

    `engine="dask"` runs the job on Dask distributed (`scheduler`: its address; a LocalCluster without);
    the feature partitions it reads are written under the job's directory first and dropped after."""
    if scheduler is not None and engine != "dask":
        raise TTPError("--scheduler is the address of a Dask scheduler: give it with --engine dask")
    with ExitStack() as stack:
        client = stack.enter_context(dask_client(scheduler)) if engine == "dask" else None
        return _run_link(act, sources, name, progress, client, link_settings or LinkSettings())


def _run_link(act: Acting, sources: list[str], name: str | None, progress, client,
              link_settings: LinkSettings) -> dict:
    settings, session = act.app.settings, act.session
    jobs_dir = settings.data_dir / "jobs"
    act.counts.update(left_behind(act, jobs_dir, db.Job.id))
    batches = link_batches(session, sources)
    features = read_features(settings, batches, session)
    previous_id, previous = previous_person_map(settings, session)
    try:
        check_link_settings(link_settings, features.columns)
    except LinkError as exc:
        raise TTPError(str(exc)) from None
    settings_text = dump_settings(link_settings)
    changed = changed_settings(link_settings)
    job_id = new_id("j")
    tmp = staging_folder(jobs_dir, job_id)
    try:
        options = {"settings": link_settings, "previous": previous, "reviews": review_decisions(session),
                   "new_person_id": lambda: new_id("p", 8), "progress": progress}
        if client is not None:
            from linkage.dask_engine import link_dask

            write_partitions(features, tmp / "partitions")
            result = link_dask(tmp / "partitions", client, **options)
            shutil.rmtree(tmp / "partitions")
        else:
            result = link(features, **options)
        person_map = result.person_map.merge(features[["record_id", "source", "export_file"]], on="record_id")
        person_map.to_parquet(tmp / PERSON_MAP, index=False)
        result.pairs.to_parquet(tmp / PAIRS, index=False)
        report = dict(result.report)
        report["settings"] = settings_dict(link_settings)
        report["settings_changed"] = changed
        report["warnings"] = ingest_guidance([
            {"batch_id": b.id, "source": b.source, "accepted": b.accepted, "fields_dropped": b.fields_dropped or {}}
            for b in batches]) + report.get("warnings", [])
        (tmp / SETTINGS).write_text(settings_text, encoding="utf-8")
        (tmp / REPORT).write_text(json.dumps(report, indent=1, default=_jsonable), encoding="utf-8")
        (tmp / "model.json").write_text(json.dumps(result.model, indent=1, default=_jsonable), encoding="utf-8")
        persons = int(person_map["person_id"].nunique())
        decisions = result.pairs["decision"] if len(result.pairs) else pd.Series([], dtype=object)
        links = int((decisions == "link").sum())
        reviews = int((decisions == "review").sum())
        summary = {
            "by_source_pair": {pair: int(v.get("links", 0)) if isinstance(v, dict) else int(v)
                               for pair, v in report.get("links_per_source_pair", {}).items()},
            "records_by_source": {s: int(n) for s, n in features["source"].value_counts().sort_index().items()},
            "stability": report.get("stability", {}),
        }
        session.add(db.Job(
            id=job_id, name=name, sources=sorted(set(sources)), batch_ids=[b.id for b in batches],
            key_version=batches[0].key_version, records=len(features), persons=persons, links=links,
            reviews=reviews, summary=summary, previous_job_id=previous_id, created_by=act.user.name,
        ))
        session.flush()
        act.objects.update({"job": job_id, "batches": [b.id for b in batches],
                            "key": batches[0].key_id})
        act.counts.update({"records": len(features), "persons": persons, "links": links, "reviews": reviews})
        act.details.update({"name": name, "sources": sorted(set(sources)), "previous_job": previous_id,
                            "settings_sha256": hashlib.sha256(settings_text.encode()).hexdigest(),
                            "settings_changed": changed, "engine": "local" if client is None else "dask"})
        act.record()
        move_on_commit(session, tmp, settings.job_dir(job_id))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"job_id": job_id, "persons": persons, "links": links, "reviews": reviews, "records": len(features),
            "by_source_pair": summary["by_source_pair"], "records_by_source": summary["records_by_source"],
            "settings_changed": changed, "warnings": report["warnings"]}


@contextmanager
def dask_client(scheduler: str | None) -> Iterator[Any]:
    """A client of the Dask scheduler at `scheduler` (its workers must see the data directory), or of a
    LocalCluster of this machine's cores; closed (the local cluster stopped) on leaving."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise TTPError("the dask engine needs Dask distributed: pip install 'ttp-linkage[dask]'") from None
    if scheduler is None:
        # the workers' own warnings (a shuffle starting, a task running long) are not the operator's business
        with LocalCluster(processes=True, dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
                Client(cluster) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        raise TTPError(f"no Dask scheduler answers at {scheduler} ({type(exc).__name__})") from None
    with client:
        yield client


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def get_job(session, job_id: str) -> db.Job:
    job = session.get(db.Job, job_id)
    if job is None:
        raise TTPError(f"unknown job {job_id!r}: `ttp link run` prints the job id")
    return job


def read_labels(path: Path) -> pd.DataFrame:
    """Labels `source,record_key,entity_id[,school][,twin_of]`; a malformed file is one clear line."""
    try:
        labels = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TTPError(f"{path}: cannot read the labels ({type(exc).__name__})") from None
    missing = {"source", "record_key", "entity_id"} - set(labels.columns)
    if missing:
        raise TTPError(f"{path}: the labels lack the column(s) {', '.join(sorted(missing))}")
    if "school" not in labels.columns:
        labels["school"] = ""
    if "twin_of" not in labels.columns:
        labels["twin_of"] = ""
    return labels


def label_ids(labels: pd.DataFrame, secret: bytes, key_version: int) -> pd.Series:
    """The keyed label id of each label row, hashed exactly as ingest hashed the records' keys."""
    from linkage.pseudonymise import make_features

    out = pd.Series(index=labels.index, dtype=object)
    usable = labels["record_key"].astype(str).str.strip() != ""
    for source, group in labels[usable].groupby("source", sort=False):
        records = pd.DataFrame({"record_key": group["record_key"].to_numpy(),
                                "school": group["school"].to_numpy(), "export_file": ""})
        out.loc[group.index] = make_features(records, source=str(source), secret=secret, key_version=key_version,
                                             bloom_filters=False)["label_id"].to_numpy()
    return out


def evaluate_job(act: Acting, job: db.Job, labels: pd.DataFrame,
                 supplier_secret: tuple[int, bytes] | None = None) -> dict:
    """Pairwise precision/recall/F1 of a job against labels hashed the way the batches stored keys.

    Labels of supplier deliveries are keyed as the suppliers keyed their records, then under the TTP's
    layer: that needs the suppliers' `(version, secret)`, which only a synthetic demo, playing both parties,
    holds."""
    settings = act.app.settings
    secret = act.app.keystore.secret(f"linkage-v{job.key_version}")
    labels = labels.copy()
    versions = {b.secret_version for b in job_batches(act.session, job)}
    if versions == {None}:
        labels["label_id"] = label_ids(labels, secret, job.key_version)
    elif supplier_secret is None or versions != {supplier_secret[0]}:
        raise TTPError(f"link job {job.id} linked supplier deliveries: their record keys were keyed with the "
                       "suppliers' secret, which the TTP does not hold, so labels cannot be matched to them here")
    else:
        supplied = label_ids(labels, supplier_secret[1], supplier_secret[0])
        labels["label_id"] = rekey_ids(supplied, secret, job.key_version, column="label_id")
    features = read_features(settings, job_batches(act.session, job))
    records = features[["record_id", "label_id", "source"]]
    person_map = pq.read_table(settings.job_dir(job.id) / PERSON_MAP).to_pandas()
    records = records.merge(person_map[["record_id", "person_id"]], on="record_id")
    labelled = records.merge(labels[["label_id", "entity_id", "twin_of"]], on="label_id", how="inner")
    result = link_evaluate.evaluate(records[["record_id", "source", "person_id"]],
                                    labelled[["record_id", "source", "entity_id", "twin_of"]])
    result["labelled_records"] = int(len(labelled))
    result["records"] = int(len(records))
    return result


def audit_evaluation(act: Acting, result: dict) -> None:
    """Record an evaluation's counts, and its scores as exact decimal strings (events hold no floats)."""
    act.counts.update({k: int(result[k]) for k in ("true_positives", "false_positives", "false_negatives")})
    act.details.update({k: f"{result[k]:.6f}" for k in ("precision", "recall", "f1")})
