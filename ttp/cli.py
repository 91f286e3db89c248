"""The `ttp` command line: one click group, thin commands over the workflows of the shell."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from . import roles
from .app import App, hidden_prompt, read_new_password
from .errors import TTPError, UsageError
from .settings import resolve

MIN_PASSPHRASE = 12  # the keystore's passphrase guards every key: longer than a sign-in password


def plural(n: int, noun: str) -> str:
    """"1 checkpoint", "2 checkpoints"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def emit_json(document: dict) -> None:
    """Print one JSON document on stdout and nothing else there."""
    click.echo(json.dumps(document, indent=1, sort_keys=True, default=str))


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")(f)


def as_option(f):
    return click.option("--as", "actor", metavar="NAME", help="The acting user (default: TTP_USER).")(f)


def get_app(ctx: click.Context, actor: str | None = None) -> App:
    app: App = ctx.obj
    if actor:
        app.actor_name = actor
    return app


class DefaultCommandGroup(click.Group):
    """A group that runs its default command when the first argument is not a subcommand."""

    default_command: str = "make"

    def parse_args(self, ctx, args):
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


class Failed(click.ClickException):
    """A TTPError on its way out: one line on stderr, the error's exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # click declares it on the class; each error has its own

    def show(self, file=None) -> None:
        click.echo(f"ttp: {self.format_message()}", err=True)


GLOBAL_OPTIONS = ("--data-dir",)  # root options also accepted after the command (`ttp demo --data-dir X`)


def hoist_global_options(args: list[str]) -> list[str]:
    """Move root options given after the command to the front, so they work in either place."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and i > 0:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(args[i:i + 2])
                i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


class TTPGroup(click.Group):
    """The root group: user errors become one line and an exit code, bugs one line unless TTP_DEBUG."""

    def parse_args(self, ctx, args):
        return super().parse_args(ctx, hoist_global_options(list(args)))

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except TTPError as exc:
            raise Failed(str(exc), exc.exit_code) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # the reader went away (`ttp link review JOB | head`): stop quietly, as other tools do
            try:  # Python flushes stdout at exit: point it at /dev/null so that flush cannot fail again
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            except (OSError, ValueError, io.UnsupportedOperation):
                pass
            raise click.exceptions.Exit(0) from None
        except Exception as exc:
            if os.environ.get("TTP_DEBUG"):
                raise
            raise Failed(f"internal error ({type(exc).__name__}); run with TTP_DEBUG=1 for details", 1) from None


@click.group(cls=TTPGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="TTP_DATA_DIR",
              help="Data directory (default: TTP_DATA_DIR, else ./ttp-data).")
@as_option
@click.version_option(package_name="ttp-linkage")
@click.pass_context
def cli(ctx: click.Context, data_dir: str | None, actor: str | None) -> None:
    """ttp: privacy-preserving linkage of Dutch education data, run by a trusted third party.

    \b
    Example:
      ttp demo                      # the whole chain on a synthetic cohort
    """
    ctx.obj = App(settings=resolve(data_dir), actor_name=actor)


# --- init and database -------------------------------------------------------------------------------------


@cli.command()
@click.option("--operator", "operator_name", metavar="NAME",
              help="Name of the first operator (default: TTP_USER, else the login name).")
@click.pass_context
def init(ctx: click.Context, operator_name: str | None) -> None:
    """Create the data directory, the database, the keystore and the first operator.

    \b
    Example:
      TTP_PASSPHRASE=... ttp init --operator olga
    """
    from .setup import initialise

    app = get_app(ctx)
    name = initialise(app, operator_name, read_new_password("Password for the first operator"))
    click.echo(f"initialised {app.settings.data_dir} (operator {name})")


@cli.group("db")
def db_group() -> None:
    """Database schema management."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Bring the database schema to this version of ttp.

    \b
    Example:
      ttp db upgrade
    """
    from . import db

    app = get_app(ctx)
    db.upgrade(app.engine, app.settings.database_url)
    click.echo(f"database at revision {db.head_revision(app.settings.database_url)}")


# --- users ---------------------------------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """Users and their roles (operator, privacy-officer, researcher)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(roles.ROLES), required=True)
@as_option
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, actor: str | None) -> None:
    """Add a user with a role (operators only). A privacy officer waits for another officer's approval
    (`ttp users approve`), except the installation's first one.

    \b
    Example:
      ttp users add pia --role privacy-officer
    """
    from .users import add_user

    app = get_app(ctx, actor)
    with app.acting("users.add", {"user": name}) as act:
        user = add_user(act, name, role)
    if user.pending_role:
        click.echo(f"added {name}; the role {role} waits for a privacy officer's approval (`ttp users pending`)")
    else:
        click.echo(f"added {name} ({role})")


@users.command("pending")
@json_option
@as_option
@click.pass_context
def users_pending(ctx: click.Context, as_json: bool, actor: str | None) -> None:
    """Users whose privacy-officer role waits for an officer's approval.

    \b
    Example:
      ttp users pending
    """
    from .users import pending_users

    app = get_app(ctx, actor)
    with app.acting("users.pending") as act:
        rows = [{"name": u.name, "role": u.pending_role, "asked_by": u.created_by} for u in pending_users(act.session)]
    if as_json:
        emit_json({"pending": rows})
    elif not rows:
        click.echo("no role waits for approval")
    for r in rows if not as_json else []:
        click.echo(f"{r['name']:<24} {r['role']:<16} asked by {r['asked_by']}")


def _grant(ctx: click.Context, name: str, approve: bool, actor: str | None) -> None:
    from .users import grant_role

    app = get_app(ctx, actor)
    with app.acting("users.approve" if approve else "users.deny", {"user": name}) as act:
        user = grant_role(act, name, approve)
    click.echo(f"{name} is now a {user.role}" if approve else f"{name}: the role was not granted")


@users.command("approve")
@click.argument("name")
@as_option
@click.pass_context
def users_approve(ctx: click.Context, name: str, actor: str | None) -> None:
    """Grant a pending privacy-officer role (an officer other than the one who asked).

    \b
    Example:
      ttp users approve pia
    """
    _grant(ctx, name, True, actor)


@users.command("deny")
@click.argument("name")
@as_option
@click.pass_context
def users_deny(ctx: click.Context, name: str, actor: str | None) -> None:
    """Refuse a pending privacy-officer role.

    \b
    Example:
      ttp users deny pia
    """
    _grant(ctx, name, False, actor)


@users.command("list")
@json_option
@as_option
@click.pass_context
def users_list(ctx: click.Context, as_json: bool, actor: str | None) -> None:
    """List users and their roles.

    \b
    Example:
      ttp users list --json
    """
    from .documents import users as user_docs

    app = get_app(ctx, actor)
    with app.acting("users.list") as act:
        rows = user_docs(act)
    if as_json:
        emit_json({"users": rows})
    else:
        for r in rows:
            click.echo(f"{r['name']:<24} {r['role']}")


# --- ingest and batches --------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", required=True, metavar="NAME", help="Source name, e.g. vve, po, vo, mbo, nco.")
@click.option("--profile", type=click.Path(path_type=Path, dir_okay=False), help="Profile TOML for CSV/XLSX.")
@click.option("--format", "fmt", type=click.Choice(["edexml"]), help="A format that needs no profile.")
@click.option("--school-year", metavar="YYYY-YYYY", help="School year when the export does not say.")
@json_option
@as_option
@click.pass_context
def ingest(ctx, paths, source, profile, fmt, school_year, as_json, actor) -> None:
    """Read, validate and pseudonymise an export into a batch (operators only).

    \b
    Examples:
      ttp ingest vve.csv --source vve --profile vve.toml
      ttp ingest po/ --source po --format edexml --json
    """
    from .ingest import open_source, run_ingest
    from .progress import Progress

    app = get_app(ctx, actor)
    progress = Progress()
    with app.acting("ingest", {"source": source}) as act:
        export = open_source(list(paths), profile, fmt, school_year)
        result = run_ingest(act, export, source, progress=progress)
    progress.done()
    if as_json:
        emit_json(result.as_json())
    else:
        click.echo(f"batch {result.batch_id}: {result.rows_read} rows read, {result.accepted} accepted, "
                   f"{result.quarantined} quarantined")
        for fname, reasons in sorted(result.fields_dropped.items()):
            for reason, n in sorted(reasons.items()):
                click.echo(f"  dropped {n} {fname} value(s): {reason}")


@cli.group()
def batches() -> None:
    """Batches: one per ingested export."""


@batches.command("list")
@json_option
@as_option
@click.pass_context
def batches_list(ctx, as_json, actor) -> None:
    """List batches with their counts.

    \b
    Example:
      ttp batches list --json
    """
    from .documents import batches as batch_docs

    app = get_app(ctx, actor)
    with app.acting("batches.list") as act:
        rows = batch_docs(act)
    if as_json:
        emit_json({"batches": rows})
        return
    for r in rows:
        click.echo(f"{r['batch_id']}  {r['source']:<10} {r['sector']:<4} read {r['rows_read']:>8}  "
                   f"accepted {r['accepted']:>8}  quarantined {r['quarantined']:>6}  key v{r['key_version']}"
                   + (f"  {r['school_year']}" if r["school_year"] else "")
                   + (f"  superseded by {r['superseded_by']}" if r["superseded_by"] else ""))


@batches.command("show")
@click.argument("batch_id")
@json_option
@as_option
@click.pass_context
def batches_show(ctx, batch_id, as_json, actor) -> None:
    """Show one batch: files, counts, dropped values, key version.

    \b
    Example:
      ttp batches show b_3f9a2c1d07e4
    """
    from .documents import batch_summary

    app = get_app(ctx, actor)
    with app.acting("batches.show", {"batch": batch_id}) as act:
        row = batch_summary(act, batch_id)
    if as_json:
        emit_json(row)
    else:
        for k, v in row.items():
            click.echo(f"{k}: {v}")


@batches.command("supersede")
@click.argument("old_batch")
@click.argument("new_batch")
@json_option
@as_option
@click.pass_context
def batches_supersede(ctx, old_batch, new_batch, as_json, actor) -> None:
    """Let NEW_BATCH, a corrected delivery, replace OLD_BATCH (same source).

    Link jobs from now on leave OLD_BATCH out; it stays for the jobs and releases made from it. Next
    year's export under the same file name needs no supersede: its records are other records.

    \b
    Example:
      ttp batches supersede b_3f9a2c1d07e4 b_8e1d0c2b4a6f
    """
    from .deliveries import supersede

    app = get_app(ctx, actor)
    with app.acting("batches.supersede", {"batch": old_batch}) as act:
        doc = supersede(act, old_batch, new_batch)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"batch {doc['batch_id']} ({doc['source']}) is superseded by {doc['superseded_by']}: "
                   "link jobs from now on use the new one")


# --- quarantine ------------------------------------------------------------------------------------------------


@cli.group()
def quarantine() -> None:
    """Rejected rows, kept encrypted with the quarantine key."""


@quarantine.command("show")
@click.argument("batch_id")
@json_option
@as_option
@click.pass_context
def quarantine_show(ctx, batch_id, as_json, actor) -> None:
    """List quarantined rows by row number, field and reason, never values (operators only).

    \b
    Example:
      ttp quarantine show b_3f9a2c1d07e4
    """
    from .quarantine import quarantined_rows

    app = get_app(ctx, actor)
    with app.acting("quarantine.show", {"batch": batch_id}) as act:
        rows = quarantined_rows(act, batch_id)
        shown = [{"export_file": r["export_file"], "row_number": r["row_number"], "reasons": r["reasons"]}
                 for r in rows]
        act.counts["rows"] = len(shown)
    if as_json:
        emit_json({"batch_id": batch_id, "rows": shown})
    else:
        for r in shown:
            click.echo(f"{r['export_file']} row {r['row_number']}: {'; '.join(r['reasons'])}")
        click.echo(f"{len(shown)} quarantined row(s)")


@quarantine.command("export")
@click.argument("batch_id")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@as_option
@click.pass_context
def quarantine_export(ctx, batch_id, out, actor) -> None:
    """Write the original quarantined rows (plaintext!) to send back to the supplier (operators only).

    \b
    Example:
      ttp quarantine export b_3f9a2c1d07e4 --out back-to-school.csv
    """
    from .quarantine import export_rows

    app = get_app(ctx, actor)
    with app.acting("quarantine.export", {"batch": batch_id}) as act:
        n = export_rows(act, batch_id, out)
    click.echo(f"warning: {out} holds identifying data in plaintext; send it to the supplier and delete it",
               err=True)
    click.echo(f"wrote {n} row(s) to {out}")


# --- linkage -------------------------------------------------------------------------------------------------


@cli.group("link")
def link_group() -> None:
    """Link jobs: persons from the keyed features of batches."""


@link_group.command("run")
@click.argument("sources", nargs=-1, required=True)
@click.option("--name", help="A name for the job.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: in this process; dask: on Dask distributed (docs/scale.md).")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --engine dask: the Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")
@json_option
@as_option
@click.pass_context
def link_run(ctx, sources, name, engine, scheduler, as_json, actor) -> None:
    """Link the batches of the named sources into persons; prints the job id (operators only).

    \b
    Example:
      ttp link run vve po vo mbo nco --name cohort-2007
      ttp link run vve po vo mbo nco --engine dask --scheduler tcp://10.0.0.5:8786
    """
    from .linkjob import run_link
    from .progress import Progress

    app = get_app(ctx, actor)
    progress = Progress()
    with app.acting("link.run", {"sources": list(sources)}) as act:
        result = run_link(act, list(sources), name, progress=progress, engine=engine, scheduler=scheduler)
    progress.done()
    if as_json:
        emit_json(result)
    else:
        click.echo(result["job_id"])
        click.echo(f"{result['records']} records, {result['persons']} persons, {result['links']} links, "
                   f"{result['reviews']} for review", err=True)


@link_group.command("evaluate")
@click.argument("job_id")
@click.option("--labels", required=True, type=click.Path(path_type=Path, dir_okay=False, exists=True))
@json_option
@as_option
@click.pass_context
def link_evaluate(ctx, job_id, labels, as_json, actor) -> None:
    """Pairwise precision, recall and F1 of a job against labelled records (operators only).

    \b
    Example:
      ttp link evaluate j_0a1b2c3d4e5f --labels truth.csv --json
    """
    from .linkjob import audit_evaluation, evaluate_job, get_job, read_labels

    app = get_app(ctx, actor)
    with app.acting("link.evaluate", {"job": job_id}) as act:
        job = get_job(act.session, job_id)
        result = evaluate_job(act, job, read_labels(labels))
        audit_evaluation(act, result)
    if as_json:
        emit_json(result)
    else:
        click.echo(f"precision {result['precision']:.4f}  recall {result['recall']:.4f}  f1 {result['f1']:.4f}")
        for pair, figures in sorted(result.get("by_source_pair", {}).items()):
            click.echo(f"  {pair:<10} precision {figures['precision']:.4f}  recall {figures['recall']:.4f}  "
                       f"f1 {figures['f1']:.4f}")


@link_group.command("report")
@click.argument("job_id")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the self-contained HTML report here.")
@json_option
@as_option
@click.pass_context
def link_report(ctx, job_id, html_out, as_json, actor) -> None:
    """The quality report of a job: weights, histogram, links per source pair, review count.

    \b
    Example:
      ttp link report j_0a1b2c3d4e5f --html report.html
    """
    from .linkjob import REPORT, get_job

    app = get_app(ctx, actor)
    with app.acting("link.report", {"job": job_id}) as act:
        job = get_job(act.session, job_id)
        report = json.loads((app.settings.job_dir(job.id) / REPORT).read_text(encoding="utf-8"))
        if html_out:
            from linkage.report import render_html

            html_out.write_text(render_html(report), encoding="utf-8")
            act.details["html"] = True
    if as_json:
        emit_json(report)
    else:
        click.echo(f"job {job.id}: {job.records} records, {job.persons} persons, {job.links} links, "
                   f"{job.reviews} for review")
        for pair, n in sorted(job.summary.get("by_source_pair", {}).items()):
            click.echo(f"  {pair:<10} {n} links")
        if html_out:
            click.echo(f"wrote {html_out}")


@link_group.command("review")
@click.argument("job_id")
@click.option("--accept", "accepts", multiple=True, metavar="PAIR", help="Accept a review pair (its number).")
@click.option("--reject", "rejects", multiple=True, metavar="PAIR", help="Reject a review pair (its number).")
@json_option
@as_option
@click.pass_context
def link_review(ctx, job_id, accepts, rejects, as_json, actor) -> None:
    """List the clerical-review pairs by pattern and weight, or decide them (operators only).

    \b
    Examples:
      ttp link review j_0a1b2c3d4e5f
      ttp link review j_0a1b2c3d4e5f --accept 3 --reject 4
    """
    from .review import decide, review_pairs

    app = get_app(ctx, actor)
    with app.acting("link.review", {"job": job_id}) as act:
        pairs = review_pairs(act, job_id)
        if accepts or rejects:
            decided = decide(act, job_id, pairs, accepts, rejects)
            act.counts.update(decided)
    pairs = [{k: v for k, v in p.items() if k != "_key"} for p in pairs]
    if as_json:
        emit_json({"job_id": job_id, "pairs": pairs})
        return
    for p in pairs:
        click.echo(f"{p['pair']:>5}  weight {p['weight']:7.2f}  p {p['probability']:.3f}  {p['pattern']}  "
                   f"{p.get('decision') or ''}")
    click.echo(f"{len(pairs)} pair(s) for review")


# --- keys ------------------------------------------------------------------------------------------------------


@cli.group()
def keys() -> None:
    """The keystore: per-purpose, versioned keys encrypted with the passphrase."""


@keys.command("list")
@json_option
@as_option
@click.pass_context
def keys_list(ctx, as_json, actor) -> None:
    """List the keys (id, purpose, version, status, fingerprint; never key bytes).

    \b
    Example:
      ttp keys list
    """
    app = get_app(ctx, actor)
    with app.acting("keys.list"):
        rows = [_key_dict(e) for e in app.keystore.entries()]
    if as_json:
        emit_json({"keys": rows})
    else:
        for r in rows:
            click.echo(f"{r['id']:<22} {r['purpose']:<14} v{r['version']:<3} {r['status']:<8} "
                       f"{r['fingerprint']}  {r['created']}")


def _key_dict(e) -> dict:
    return {"id": e.id, "purpose": e.purpose, "version": e.version, "status": e.status,
            "fingerprint": e.fingerprint, "created": str(e.created)}


@keys.command("rotate")
@click.option("--purpose", required=True, type=click.Choice(["linkage", "payload", "quarantine", "audit-signing"]))
@as_option
@click.pass_context
def keys_rotate(ctx, purpose, actor) -> None:
    """Create a new version of a purpose's key; the new one is used from now on.

    \b
    Example:
      ttp keys rotate --purpose linkage
    """
    app = get_app(ctx, actor)
    with app.acting("keys.rotate", {"purpose": purpose}) as act:
        entry = app.keystore.rotate(purpose)
        act.objects["key"] = entry.id
    click.echo(f"new key {entry.id} ({entry.fingerprint})")
    if purpose == "linkage":
        click.echo("note: keyed pseudonyms are one-way and cannot be re-keyed; re-ingest the exports under the "
                   "new key before linking them (a job never mixes key versions)")


@keys.command("retire")
@click.argument("key_id")
@as_option
@click.pass_context
def keys_retire(ctx, key_id, actor) -> None:
    """Retire a key version (it is kept, but no longer used).

    \b
    Example:
      ttp keys retire linkage-v1
    """
    from keys.keystore import KeystoreError

    app = get_app(ctx, actor)
    with app.acting("keys.retire", {"key": key_id}):
        try:
            app.keystore.retire(key_id)
        except (KeyError, ValueError, KeystoreError) as exc:
            raise TTPError(f"cannot retire {key_id}: {exc}") from None
    click.echo(f"retired {key_id}")


@keys.command("change-passphrase")
@as_option
@click.pass_context
def keys_change_passphrase(ctx, actor) -> None:
    """Re-encrypt the keystore under a new passphrase (asked twice; or TTP_NEW_PASSPHRASE).

    \b
    Example:
      ttp keys change-passphrase
    """
    app = get_app(ctx, actor)
    with app.acting("keys.change-passphrase"):
        new = os.environ.get("TTP_NEW_PASSPHRASE") or hidden_prompt("New passphrase", confirm=True)
        if len(new) < MIN_PASSPHRASE:
            raise UsageError(f"a keystore passphrase has at least {MIN_PASSPHRASE} characters")
        app.keystore.change_passphrase(new)
    click.echo("passphrase changed")


@keys.command("export-verify-key")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the PEM here.")
@as_option
@click.pass_context
def keys_export_verify_key(ctx, out, actor) -> None:
    """Print (or write) the Ed25519 public key that verifies audit checkpoints, as PEM.

    \b
    Example:
      ttp keys export-verify-key --out audit-key.pem
    """
    app = get_app(ctx, actor)
    with app.acting("keys.export-verify-key"):
        pem = app.keystore.verify_key_pem()
    if out:
        out.write_bytes(pem)
        click.echo(f"wrote {out}")
    else:
        click.echo(pem.decode().rstrip())


# --- audit -------------------------------------------------------------------------------------------------


@cli.group()
def audit() -> None:
    """The tamper-evident audit log."""


@audit.command("verify")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A checkpoint kept earlier: check that the log only grew since (needs --public-key).")
@click.option("--public-key", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="The exported verify key (PEM): verify without the keystore passphrase.")
@json_option
@as_option
@click.pass_context
def audit_verify(ctx, checkpoint_file, public_key, as_json, actor) -> None:
    """Recompute the chain and the Merkle tree and check every signed checkpoint.

    \b
    Examples:
      ttp audit verify --json
      ttp audit verify --checkpoint kept.txt --public-key audit-key.pem
    """
    from .auditing import verify

    app = get_app(ctx, actor)
    result = verify(app, checkpoint_file, public_key)
    if as_json:
        emit_json(result)
    elif result["ok"]:
        click.echo(f"audit log verified: {plural(result['events'], 'event')}, "
                   f"{plural(result['checkpoints'], 'checkpoint')}")
    if not result["ok"]:
        problem = result["problems"][0] if result["problems"] else "verification failed"
        where = f" at event {result['first_bad_event']}" if result.get("first_bad_event") is not None else ""
        raise TTPError(f"audit log does NOT verify{where}: {problem}")


@audit.command("show")
@click.option("--actor", "who", help="Only events by this user.")
@click.option("--role", help="Only events by this role.")
@click.option("--action", help="Only this action (prefix match, e.g. `request`).")
@click.option("--object", "obj", help="Only events naming this object id.")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="From this UTC time (ISO 8601: 2026-01-01 or 2026-01-01T08:00:00).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
              help="Up to this UTC time (ISO 8601).")
@click.option("--limit", type=int, default=200, show_default=True)
@json_option
@as_option
@click.pass_context
def audit_show(ctx, who, role, action, obj, since, until, limit, as_json, actor) -> None:
    """Show audit events, filtered by actor, role, action, object and time.

    \b
    Example:
      ttp audit show --action request --since 2026-01-01
    """
    from .auditing import show

    app = get_app(ctx, actor)
    with app.acting("audit.show") as act:
        events = show(act.session, who, role, action, obj, since and since.isoformat(),
                      until and until.isoformat(), limit)
    if as_json:
        emit_json({"events": events})
        return
    for e in events:
        objects = " ".join(f"{k}={v}" for k, v in e["objects"].items())
        click.echo(f"{e['seq']:>6} {e['time'][:19]} {e['actor']:<12} {e['role']:<15} {e['action']:<20} "
                   f"{e['outcome']:<8} {objects}")


@audit.command("checkpoint")
@as_option
@click.pass_context
def audit_checkpoint(ctx, actor) -> None:
    """Sign a checkpoint of the log now (also done after every acting command).

    \b
    Example:
      ttp audit checkpoint
    """
    app = get_app(ctx, actor)
    with app.acting("audit.checkpoint"):
        pass
    from .auditing import latest_checkpoint

    click.echo(latest_checkpoint(app).rstrip())


@audit.command("prove")
@click.argument("event", type=int)
@json_option
@as_option
@click.pass_context
def audit_prove(ctx, event, as_json, actor) -> None:
    """Print an inclusion proof of one event in the latest checkpoint's tree.

    \b
    Example:
      ttp audit prove 12
    """
    from .auditing import prove

    app = get_app(ctx, actor)
    with app.acting("audit.prove", {"event": event}) as act:
        proof = prove(act.session, event)
    emit_json(proof) if as_json else click.echo(json.dumps(proof, indent=1))


@audit.command("export")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@as_option
@click.pass_context
def audit_export(ctx, out, actor) -> None:
    """Write every event with its inclusion proof and the latest checkpoint, for an external auditor.

    \b
    Example:
      ttp audit export --out audit-2026.json
    """
    from .auditing import export

    app = get_app(ctx, actor)
    with app.acting("audit.export") as act:
        n = export(act.session, app, out)
        act.counts["events"] = n
    click.echo(f"wrote {n} events to {out}")


# --- policies, requests, releases -------------------------------------------------------------------------


@cli.group()
def policy() -> None:
    """Export policies (TOML), every version kept."""


@policy.command("add")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--name", help="Policy name (default: the file's stem).")
@as_option
@click.pass_context
def policy_add(ctx, file, name, actor) -> None:
    """Register a policy or a new version of it (privacy officers only).

    \b
    Example:
      ttp policy add monitor.toml
    """
    from .exporting import add_policy

    app = get_app(ctx, actor)
    with app.acting("policy.add") as act:
        row = add_policy(act, file, name)
    click.echo(f"policy {row.name} version {row.version} ({row.sha256[:12]}) waits for a second privacy officer:"
               f" `ttp policy approve {row.name} {row.version}`")


@policy.command("pending")
@json_option
@as_option
@click.pass_context
def policy_pending(ctx, as_json, actor) -> None:
    """Policy versions waiting for a second privacy officer.

    \b
    Example:
      ttp policy pending
    """
    from .exporting import pending_policies

    app = get_app(ctx, actor)
    with app.acting("policy.pending") as act:
        rows: list[dict[str, Any]] = [
            {"name": p.name, "version": p.version, "sha256": p.sha256, "added_by": p.added_by}
            for p in pending_policies(act.session)]
    if as_json:
        emit_json({"pending": rows})
        return
    if not rows:
        click.echo("no policy version waits for approval")
    for r in rows:
        click.echo(f"{r['name']:<20} v{r['version']:<3} {r['sha256'][:12]}  added by {r['added_by']}")


def _decide_policy(ctx, name: str, version: int, approve: bool, actor: str | None) -> None:
    from .exporting import decide_policy

    app = get_app(ctx, actor)
    with app.acting("policy.approve" if approve else "policy.deny", {"policy": name, "version": version}) as act:
        row = decide_policy(act, name, version, approve)
    click.echo(f"policy {row.name} version {row.version} is {row.status}")


@policy.command("approve")
@click.argument("name")
@click.argument("version", type=int)
@as_option
@click.pass_context
def policy_approve(ctx, name, version, actor) -> None:
    """Put a pending policy version in force (a privacy officer other than its author).

    \b
    Example:
      ttp policy approve monitor 2
    """
    _decide_policy(ctx, name, version, True, actor)


@policy.command("deny")
@click.argument("name")
@click.argument("version", type=int)
@as_option
@click.pass_context
def policy_deny(ctx, name, version, actor) -> None:
    """Reject a pending policy version.

    \b
    Example:
      ttp policy deny monitor 2
    """
    _decide_policy(ctx, name, version, False, actor)


@policy.command("list")
@json_option
@as_option
@click.pass_context
def policy_list(ctx, as_json, actor) -> None:
    """List policies and their versions.

    \b
    Example:
      ttp policy list
    """
    from .documents import policy_versions

    app = get_app(ctx, actor)
    with app.acting("policy.list") as act:
        rows = policy_versions(act)
    if as_json:
        emit_json({"policies": rows})
    else:
        for r in rows:
            click.echo(f"{r['name']:<20} v{r['version']:<3} {r['status']:<8} {r['sha256'][:12]}  {r['added_by']}"
                       f"  {r['added_at']}")


@policy.command("show")
@click.argument("name")
@click.option("--version", type=int, help="A particular version (default: the newest).")
@as_option
@click.pass_context
def policy_show(ctx, name, version, actor) -> None:
    """Print a policy's text.

    \b
    Example:
      ttp policy show monitor
    """
    from .exporting import get_policy

    app = get_app(ctx, actor)
    with app.acting("policy.show", {"policy": name}) as act:
        row = get_policy(act.session, name, version)
    click.echo(f"# policy {row.name} version {row.version}, added by {row.added_by} at {row.added_at}")
    click.echo(row.text.rstrip())


@cli.group()
def request() -> None:
    """Research requests: submit, check, approve or deny."""


@request.command("submit")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@json_option
@as_option
@click.pass_context
def request_submit(ctx, file, as_json, actor) -> None:
    """Submit a request file; it is checked against its policy at once (researchers, privacy officers).

    \b
    Example:
      ttp request submit vve-havo-vwo.toml
    """
    from .exporting import for_user, submit

    app = get_app(ctx, actor)
    with app.acting("request.submit") as act:
        row = submit(act, file)
        check = for_user(row.check, act.user.role)
    if as_json:
        emit_json({"request_id": row.id, "status": row.status, "check": check})
    else:
        click.echo(f"request {row.id}: {row.status}")
        for problem in check.get("problems", []):
            click.echo(f"  - {problem}")


@request.command("list")
@json_option
@as_option
@click.pass_context
def request_list(ctx, as_json, actor) -> None:
    """List requests (a researcher sees their own).

    \b
    Example:
      ttp request list
    """
    from .exporting import list_requests

    app = get_app(ctx, actor)
    with app.acting("request.list") as act:
        rows = list_requests(act)
    if as_json:
        emit_json({"requests": rows})
    else:
        for r in rows:
            click.echo(f"{r['request_id']}  {r['status']:<9} {r['requester']:<12} {r['policy']}  {r['purpose']}")


@request.command("show")
@click.argument("request_id")
@json_option
@as_option
@click.pass_context
def request_show(ctx, request_id, as_json, actor) -> None:
    """Show a request, its check and its status.

    \b
    Example:
      ttp request show r_0a1b2c3d4e5f
    """
    from .exporting import show_request

    app = get_app(ctx, actor)
    with app.acting("request.show", {"request": request_id}) as act:
        doc = show_request(act, request_id)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"request {doc['request_id']} by {doc['requester']} under {doc['policy']}: {doc['status']}")
    click.echo(f"  purpose: {doc['purpose']}")
    if doc.get("decided_by"):
        click.echo(f"  decided by {doc['decided_by']}: {doc.get('reason') or ''}")
    check = doc.get("check") or {}
    if check:
        click.echo(f"  check: {'ok' if check.get('ok') else 'not ok'}, {check.get('cells', '?')} cells, "
                   f"{check.get('suppressed', '?')} hidden")
        for problem in check.get("problems", []):
            click.echo(f"    - {problem}")
    if doc.get("release_id"):
        click.echo(f"  released as {doc['release_id']}")
    click.echo("  (--json for everything, the request text included)")


@request.command("approve")
@click.argument("request_id")
@click.option("--reason", required=True, help="Why it is approved (kept with the decision and audited).")
@as_option
@click.pass_context
def request_approve(ctx, request_id, reason, actor) -> None:
    """Approve a checked request (privacy officers; never one's own request).

    \b
    Example:
      ttp request approve r_0a1b2c3d4e5f --reason "within the monitor's agreement"
    """
    from .exporting import decide_request

    app = get_app(ctx, actor)
    with app.acting("request.approve", {"request": request_id}) as act:
        row = decide_request(act, request_id, "approve", reason)
    click.echo(f"request {row.id}: {row.status}")


@request.command("deny")
@click.argument("request_id")
@click.option("--reason", required=True, help="Why it is denied.")
@as_option
@click.pass_context
def request_deny(ctx, request_id, reason, actor) -> None:
    """Deny a request with a reason (privacy officers only).

    \b
    Example:
      ttp request deny r_0a1b2c3d4e5f --reason "cells too small for this purpose"
    """
    from .exporting import decide_request

    app = get_app(ctx, actor)
    with app.acting("request.deny", {"request": request_id}) as act:
        row = decide_request(act, request_id, "deny", reason)
    click.echo(f"request {row.id}: {row.status}")


@cli.group(cls=DefaultCommandGroup)
def release() -> None:
    """Produce an approved request's release (`ttp release ID --out DIR`) or verify one."""


@release.command("make")
@click.argument("request_id")
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
@json_option
@as_option
@click.pass_context
def release_make(ctx, request_id, out, as_json, actor) -> None:
    """Compute, protect and write the release of an approved request (operators only).

    \b
    Example:
      ttp release r_0a1b2c3d4e5f --out release/
    """
    from .exporting import release_request

    doc = release_request(get_app(ctx.find_root(), actor), request_id, out)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"release {doc['release_id']} written to {out} ({doc['suppressed']} cell(s) suppressed)")


@release.command("verify")
@click.argument("release_id", required=False)
@click.option("--all", "every", is_flag=True, help="Verify every release, in the order they were made.")
@json_option
@as_option
@click.pass_context
def release_verify(ctx, release_id, every, as_json, actor) -> None:
    """Recompute a release with the history as it stood when it was made; compare the bytes.

    The releases made before it, its policy version and its link job are used again, and the
    suppressions the joint protection added are replayed and audited again.

    \b
    Examples:
      ttp release verify rel_0a1b2c3d4e5f
      ttp release verify --all
    """
    from .exporting import verify_releases

    if bool(release_id) == every:
        raise UsageError("give a RELEASE id or --all")
    results = verify_releases(get_app(ctx.find_root(), actor), release_id)
    bad = [r["release_id"] for r in results if not r["reproduced"]]
    if as_json:
        emit_json({"releases": results, "ok": not bad})
    else:
        for r in results:
            verdict = "reproduces byte for byte" if r["reproduced"] else "does NOT reproduce"
            click.echo(f"release {r['release_id']} (#{r['seq']}) {verdict}: {r['how']}")
    if bad:
        raise TTPError(f"{len(bad)} of {len(results)} release(s) do NOT reproduce: {', '.join(bad)}")


@release.command("list")
@json_option
@as_option
@click.pass_context
def release_list(ctx, as_json, actor) -> None:
    """List releases in the order they were made (a researcher sees their own).

    \b
    Example:
      ttp release list
    """
    from .exporting import list_releases

    app = get_app(ctx.find_root(), actor)
    with app.acting("release.list") as act:
        rows = list_releases(act)
    if as_json:
        emit_json({"releases": rows})
    else:
        for r in rows:
            click.echo(f"#{r['seq']:<4} {r['release_id']}  {r['request_id']}  {r['requester']:<12} {r['policy']}"
                       f"  {r['created_at']}")


@release.command("show")
@click.argument("release_id")
@json_option
@as_option
@click.pass_context
def release_show(ctx, release_id, as_json, actor) -> None:
    """Show a release; a privacy officer also sees why each cell is hidden and which earlier releases
    shaped it (a researcher never does).

    \b
    Example:
      ttp release show rel_0a1b2c3d4e5f
    """
    from .exporting import release_doc

    app = get_app(ctx.find_root(), actor)
    with app.acting("release.show", {"release": release_id}) as act:
        doc = release_doc(act, release_id)
    if as_json:
        emit_json(doc)
        return
    click.echo(f"release {doc['release_id']} (#{doc['seq']}) of request {doc['request_id']} by {doc['requester']},"
               f" approved by {doc['approved_by']}; policy {doc['policy']}; link job {doc['job_id']}")
    click.echo(f"files: {', '.join(doc['files'])}")
    if "suppressions" in doc:
        if doc["constrained_by"]:
            click.echo(f"earlier releases that added suppressions: {', '.join(doc['constrained_by'])}")
        for s in doc["suppressions"]:
            measure = f" [{s['measure']}]" if s.get("measure") else ""
            click.echo(f"  {s['cell']}{measure}: {s['reason']}")


@cli.group()
def schools() -> None:
    """The school register (DUO's open data layout): boards and municipalities."""


@schools.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@as_option
@click.pass_context
def schools_import(ctx, file, actor) -> None:
    """Import a school register file (BRIN, vestiging, board, municipality).

    \b
    Example:
      ttp schools import schools.csv
    """
    from .exporting import import_schools

    app = get_app(ctx, actor)
    with app.acting("schools.import") as act:
        n = import_schools(act, file)
        act.counts["schools"] = n
    click.echo(f"imported {n} school(s)")


@cli.command()
@click.argument("release_id")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
@as_option
@click.pass_context
def factsheet(ctx, release_id, out, actor) -> None:
    """Render a stored release as a one-page factsheet (PDF) for a school leader.

    \b
    Example:
      ttp factsheet rel_0a1b2c3d4e5f --out factsheet.pdf
    """
    from .exporting import render_factsheet

    app = get_app(ctx, actor)
    with app.acting("factsheet", {"release": release_id}) as act:
        render_factsheet(act, release_id, out)
    click.echo(f"wrote {out}")


# --- demo ----------------------------------------------------------------------------------------------------


@cli.group(cls=DefaultCommandGroup)
def demo() -> None:
    """The whole chain on a synthetic Limburg cohort (`ttp demo`), or the cohort alone (`ttp demo generate`)."""


@demo.command("run")
@click.option("--cohort", default=300, show_default=True, help="Pupils per year group (15 year groups).")
@click.option("--seed", default=1, show_default=True)
@click.option("--history/--no-history", default=True, show_default=True,
              help="Also release the six school-level tables one after another (the release history).")
@json_option
@click.pass_context
def demo_run(ctx, cohort, seed, history, as_json) -> None:
    """Generate, ingest, link, evaluate, request, approve, release and verify, in a fresh data directory.

    The region: fifteen year groups of `--cohort` pupils followed over eight school years, delivered year
    by year (one delivery sent again, corrected).

    \b
    Example:
      ttp demo --cohort 150 --data-dir demo-data --json > summary.json
    """
    from .demo_job import run_demo

    if cohort < 1:
        raise UsageError("--cohort must be at least 1")
    root = ctx.find_root()
    explicit = root.params.get("data_dir")
    summary = run_demo(Path(explicit) if explicit else None, cohort=cohort, seed=seed, quiet=as_json,
                       history=history)
    if as_json:
        emit_json(summary)


assert isinstance(demo, DefaultCommandGroup)
demo.default_command = "run"


@demo.command("generate")
@click.option("--cohort", default=300, show_default=True, help="Pupils per year group (15 year groups).")
@click.option("--seed", default=1, show_default=True)
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False))
def demo_generate(cohort, seed, out) -> None:
    """Write the synthetic region's deliveries the way the source systems export them, year by year, with
    their profiles, the school register and the truth.

    \b
    Example:
      ttp demo generate --cohort 300 --seed 1 --out region/
    """
    from .demo.region import generate_region

    if cohort < 1:
        raise UsageError("--cohort must be at least 1")
    made = generate_region(Path(out), cohort=cohort, seed=seed)
    click.echo(f"wrote a synthetic region of {made.persons} pupils ({cohort} per year group, seed {seed}) to "
               f"{out}: {len(made.deliveries)} deliveries over {made.years[0]} to {made.years[-1]}, their "
               "profiles, schools.csv and truth.csv (see README.txt there)")


# --- web service (issue 8): serve, passwords, API tokens --------------------------------------------------------


@users.command("passwd")
@click.argument("name")
@as_option
@click.pass_context
def users_passwd(ctx: click.Context, name: str, actor: str | None) -> None:
    """Set a password: your own; an operator sets the first one of a new operator or researcher, a privacy
    officer that of another privacy officer. Ends the user's web sessions.

    The password comes from TTP_NEW_PASSWORD or a prompt asked twice; it is stored as an Argon2id hash.

    \b
    Example:
      ttp users passwd rosa --as olga
    """
    from .users import set_password

    app = get_app(ctx, actor)
    with app.acting("users.passwd", {"user": name}) as act:
        set_password(act, name, read_new_password())
    click.echo(f"password of {name} set; their web sessions ended")


@users.command("token")
@click.option("--revoke", is_flag=True, help="Revoke every API token of the user instead.")
@click.option("--user", "name", metavar="NAME", help="Revoke another user's tokens (operators and officers).")
@as_option
@click.pass_context
def users_token(ctx: click.Context, revoke: bool, name: str | None, actor: str | None) -> None:
    """Make an API token for yourself (shown once, stored hashed), or revoke tokens (which also ends the
    user's web sessions). Nobody makes a token for someone else: a token acts as its user.

    \b
    Example:
      ttp users token > ~/.ttp-token && export TTP_TOKEN=$(cat ~/.ttp-token)
      ttp users token --revoke --user rosa
      curl -H "Authorization: Bearer $TTP_TOKEN" http://127.0.0.1:8000/api/v1/requests
    """
    from .users import make_token, revoke_user_tokens

    app = get_app(ctx, actor)
    if name and not revoke:
        raise UsageError("--user is only for --revoke: a token is made by its own user")
    with app.acting("users.token.revoke" if revoke else "users.token", {"user": name or app.prove()}) as act:
        if revoke:
            revoked = revoke_user_tokens(act, name or act.user.name)
        else:
            token_id, token = make_token(act)
    if revoke:
        click.echo(f"revoked {revoked} token(s) of {name or act.user.name}; their web sessions ended")
    else:
        click.echo(token)
        click.echo(f"token {token_id} for {act.user.name}: shown once, keep it secret", err=True)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--insecure-cookies", is_flag=True,
              help="Send cookies without the Secure flag (plain HTTP to a non-local host; not for production).")
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, insecure_cookies: bool) -> None:
    """Run the web service (pages and the JSON API under /api/v1) on the CLI's database and keystore.

    The keystore is opened once at start (passphrase from TTP_PASSPHRASE or a prompt).

    \b
    Example:
      TTP_PASSPHRASE=... ttp serve --host 127.0.0.1 --port 8000
    """
    import uvicorn

    from .web.context import Service
    from .web.server import create_app

    app = get_app(ctx)
    app.require_schema()
    _port_free(host, port)
    service = Service.open(app.settings, app.keystore, secure_cookies=not insecure_cookies)
    click.echo(f"ttp serving {app.settings.data_dir} on http://{host}:{port}/ (API at /api/v1)", err=True)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", access_log=False,
                server_header=False)


def _port_free(host: str, port: int) -> None:
    """Refuse, in one line, a port another process listens on (uvicorn would exit 3 after its own log)."""
    import socket

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except OSError as exc:
        raise TTPError(f"cannot listen on {host}:{port}: {exc.strerror or exc} (another `ttp serve`?)") from None


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (0 done, 1 refused or failed, 2 usage or passphrase)."""
    try:
        cli.main(args=argv, prog_name="ttp", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
