"""The `ttp` command line: one click group, thin commands over the workflows of the shell."""

from __future__ import annotations

import errno
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
from .settings import PRIVATE_UMASK, resolve

MIN_PASSPHRASE = 12  # the keystore's passphrase guards every key: longer than a sign-in password


def plural(n: int, noun: str, many: str | None = None) -> str:
    """"1 checkpoint", "2 checkpoints" ("1 batch", "2 batches" with `many`)."""
    return f"{n} {noun}" if n == 1 else f"{n} {many or noun + 's'}"


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
        previous_umask = os.umask(PRIVATE_UMASK)  # every file and folder ttp makes: its user's only
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
            full = disk_full(exc, ctx.obj.settings.data_dir if isinstance(ctx.obj, App) else None)
            if full:
                raise Failed(full, 1) from None
            raise Failed(f"internal error ({type(exc).__name__}); run with TTP_DEBUG=1 for details", 1) from None
        finally:
            os.umask(previous_umask)


def disk_full(exc: BaseException, data_dir: Path | None) -> str | None:
    """The one line for a write that found no room (ENOSPC, EDQUOT, SQLite's "disk is full"), else None."""
    where = getattr(exc, "filename", None) or data_dir
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        what = "disk full" if exc.errno == errno.ENOSPC else "disk quota exceeded"
        return f"{what}: cannot write {where} (free space, then run the command again)"
    if "database or disk is full" in str(getattr(exc, "orig", "")):
        return f"disk full: the database cannot grow (data directory {data_dir}; free space, then run again)"
    return None


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
@click.option("--school", "schools", multiple=True, help="Role school: a BRIN + vestiging it reads the feedback of "
              "(repeat for more).")
@as_option
@click.pass_context
def users_add(ctx: click.Context, name: str, role: str, schools: tuple[str, ...], actor: str | None) -> None:
    """Add a user with a role (operators only). A privacy officer waits for another officer's approval
    (`ttp users approve`), except the installation's first one; a school team is bound to its schools.

    \b
    Examples:
      ttp users add pia --role privacy-officer
      ttp users add regenboog --role school --school 01QW00
    """
    from .users import add_user

    app = get_app(ctx, actor)
    with app.acting("users.add", {"user": name}) as act:
        user = add_user(act, name, role, list(schools))
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
    from .users import asked_by, pending_users

    app = get_app(ctx, actor)
    with app.acting("users.pending") as act:
        rows = [{"name": u.name, "role": u.pending_role, "asked_by": asked_by(u)} for u in pending_users(act.session)]
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


@users.command("role")
@click.argument("name")
@click.option("--role", type=click.Choice(roles.ROLES), required=True)
@as_option
@click.pass_context
def users_role(ctx: click.Context, name: str, role: str, actor: str | None) -> None:
    """Change another user's role. To privacy officer it waits for an officer other than the one who asked
    (`ttp users approve`); a privacy officer's role is changed by another officer only.

    \b
    Example:
      ttp users role rosa --role operator
    """
    from .users import change_role

    app = get_app(ctx, actor)
    with app.acting("users.role", {"user": name}) as act:
        user = change_role(act, name, role)
    if user.pending_role:
        click.echo(f"{name} stays a {user.role}; the role {role} waits for a privacy officer's approval "
                   "(`ttp users pending`)")
    else:
        click.echo(f"{name} is now {'an' if role[0] in 'aeiou' else 'a'} {role}")


@users.command("remove")
@click.argument("name")
@as_option
@click.pass_context
def users_remove(ctx: click.Context, name: str, actor: str | None) -> None:
    """Remove another user: their role, password and tokens go, their audit history stays, and the name is
    never given to anyone else. A privacy officer is removed by another officer only.

    \b
    Example:
      ttp users remove rosa
    """
    from .users import remove_user

    app = get_app(ctx, actor)
    with app.acting("users.remove", {"user": name}) as act:
        remove_user(act, name)
        revoked = act.counts["revoked"]
    click.echo(f"removed {name} ({plural(revoked, 'token')} revoked; their audit history stays)")


# --- backup and restore --------------------------------------------------------------------------------------


@cli.command("backup")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The backup file to write (a new file; sealed under the keystore passphrase).")
@json_option
@as_option
@click.pass_context
def backup_command(ctx: click.Context, out: Path, as_json: bool, actor: str | None) -> None:
    """Write one encrypted file with a consistent snapshot of the database, the data folders, the keystore
    and the checkpoints, while the service runs (SQLite or PostgreSQL; no pg_dump needed).

    \b
    Example:
      ttp backup --out ttp-2025-01-31.ttpbackup
    """
    from .backup import backup

    counts = backup(get_app(ctx, actor), out)
    if as_json:
        emit_json({"out": str(out), "counts": counts})
    else:
        click.echo(f"backup written to {out}: {plural(counts['events'], 'event')}, "
                   f"{plural(counts['batches'], 'batch', 'batches')}, {plural(counts['jobs'], 'job')}, "
                   f"{plural(counts['releases'], 'release')}")


@cli.command("restore")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@as_option
@click.pass_context
def restore_command(ctx: click.Context, file: Path, actor: str | None) -> None:
    """Restore a backup into a new or empty data directory (and, with TTP_DATABASE_URL, an empty PostgreSQL
    database); you act as an operator of the backup (its token, or --as with that user's password) and the
    restore is audited there.

    \b
    Example:
      ttp --data-dir ttp-data restore ttp-2025-01-31.ttpbackup --as olga
    """
    from .backup import restore

    app = get_app(ctx, actor)
    counts = restore(app, file)
    click.echo(f"restored {app.settings.data_dir}: {plural(counts['events'], 'event')} and "
                f"{plural(counts['batches'], 'batch', 'batches')} (`ttp audit verify` checks the log)")


# --- retention -----------------------------------------------------------------------------------------------


@cli.group()
def retention() -> None:
    """Retention: what the policies' `[retention]` periods say must go (docs/policies.md)."""


@retention.command("apply")
@click.option("--dry-run", is_flag=True, help="List what is past its period; delete nothing.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), metavar="YYYY-MM-DD",
              help="Apply the periods as on this day (default: now); recorded in the audit event.")
@json_option
@as_option
@click.pass_context
def retention_apply(ctx, dry_run, as_of, as_json, actor) -> None:
    """Delete the batches, link jobs and release files past their retention period (audited, counts only).

    A batch goes a source's period after its ingest, with the link jobs made from it; a job also goes after
    the jobs period; a release keeps its row and history, and its files go after its policy's releases period.

    \b
    Examples:
      ttp retention apply --dry-run
      ttp retention apply
    """
    import datetime as dt

    from .retention import run

    moment = as_of.replace(tzinfo=dt.UTC) if as_of else None
    doc = run(get_app(ctx, actor), moment, dry_run)
    if as_json:
        emit_json(doc)
        return
    verb = "would delete" if dry_run else "deleted"
    for b in doc["batches"]:
        click.echo(f"{verb} batch {b['batch_id']} ({b['source']}, ingested {b['ingested'][:10]})")
    for j in doc["jobs"]:
        why = "made from a batch that goes" if j["reason"] == "batch" else "past the jobs period"
        click.echo(f"{verb} link job {j['job_id']} ({why})")
    for r in doc["releases"]:
        click.echo(f"{verb} the files of release {r['release_id']} ({r['policy']}, made {r['made'][:10]})")
    for r in doc["recipient_releases"]:
        what = "delivery for" if r["kind"] == "delivery" else "table imported from"
        click.echo(f"{verb} the files of {r['release_id']} ({what} {r['recipient']}, made {r['made'][:10]})")
    c = doc["counts"]
    click.echo(f"{verb} {plural(c['batches'], 'batch', 'batches')} ({plural(c['records'], 'record')}), "
               f"{plural(c['jobs'], 'link job')}, the files of {plural(c['release_files'], 'release')}"
               + ("" if doc["periods"]["sources"] or doc["periods"]["jobs"] or doc["periods"]["releases"]
                  else " (no policy in force has a [retention] section)"))


# --- ingest and batches --------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", metavar="NAME", help="Source name, e.g. vve, po, vo, mbo (a delivery names its own).")
@click.option("--profile", type=click.Path(path_type=Path, dir_okay=False), help="Profile TOML for CSV/XLSX.")
@click.option("--format", "fmt", type=click.Choice(["edexml"]), help="A format that needs no profile.")
@click.option("--school-year", metavar="YYYY-YYYY", help="School year when the export does not say.")
@json_option
@as_option
@click.pass_context
def ingest(ctx, paths, source, profile, fmt, school_year, as_json, actor) -> None:
    """Read, validate and pseudonymise an export into a batch, or receive a supplier's delivery (operators).

    A delivery (made by `ttp supply`) is verified against its registered supplier, refused if altered,
    replayed, stale or made under an unexpected secret version, and stored under the TTP's own keyed layer.

    \b
    Examples:
      ttp ingest vve.csv --source vve --profile vve.toml
      ttp ingest po/ --source po --format edexml --json
      ttp ingest po-2024.delivery
    """
    from .ingest import open_source, run_ingest
    from .progress import Progress
    from .suppliers import is_delivery, receive_delivery

    app = get_app(ctx, actor)
    progress = Progress()
    if len(paths) == 1 and is_delivery(paths[0]):
        if source or profile or fmt or school_year:
            raise UsageError("a delivery names its own source, format and school year: give only the file")
        with app.acting("ingest", {"delivery": str(paths[0].name)}) as act:
            result = receive_delivery(act, paths[0])
    else:
        if not source:
            raise UsageError("give --source NAME for an export (only a delivery names its own)")
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


@cli.group()
def persons() -> None:
    """Persons: erase one child everywhere (the right to erasure, a parent's objection)."""


@persons.command("erase")
@click.option("--source", required=True, metavar="NAME", help="The source the identifiers come from (vo, po, ...).")
@click.option("--from", "from_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="A TOML file with the child's identifiers (default: asked for at prompts; never an argument).")
@click.option("--secret", "secret_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The suppliers' shared secret file, needed when suppliers pseudonymised the records.")
@click.option("--dry-run", is_flag=True, help="Count what would go, per source; change nothing.")
@click.option("--no-objection", is_flag=True,
              help="Do not add the child to the objection register (a withdrawal, not an objection).")
@json_option
@as_option
@click.pass_context
def persons_erase(ctx, source, from_file, secret_file, dry_run, no_objection, as_json, actor) -> None:
    """Erase one child in every source: keyed features, payload, quarantined rows, person-map entries and
    links; by default the objection register then drops later deliveries of the child (operators only).

    The identifiers (bsn, onderwijsnummer, family_name, name_prefix, given_names, birth_date, sex) are read
    from --from FILE or prompts, keyed as ingest keys them, and never written anywhere; only counts are
    printed and audited. Earlier releases stay; the erasure is noted against them (`ttp release show`).

    \b
    Examples:
      ttp persons erase --source vo --from child.toml --dry-run
      ttp persons erase --source vo --from child.toml --secret region-secret-v1.json
    """
    from .erasure import erase, read_identifiers
    from .supply import read_shared_secret

    app = get_app(ctx, actor)
    child = read_identifiers(from_file)
    secret = read_shared_secret(secret_file) if secret_file else None
    with app.acting("persons.erase", {"source": source}) as act:
        summary = erase(act, child, source, secret, objection=not no_objection, dry_run=dry_run)
    if as_json:
        emit_json({**summary, "dry_run": dry_run})
        return
    verb = "would erase" if dry_run else f"erasure {summary['erasure_id']}: erased"
    click.echo(f"{verb} {plural(summary['persons'], 'person')}: {plural(summary['records'], 'record')}, "
               f"{summary['quarantined']} quarantined row(s), {summary['person_map']} person-map entr"
               f"{'y' if summary['person_map'] == 1 else 'ies'}, {plural(summary['links'], 'link')}")
    for src, counts in sorted(summary["by_source"].items()):
        click.echo(f"  {src}: " + ", ".join(f"{n} {k.replace('_', '-')}" for k, n in counts.items()))
    if summary["releases"]:
        click.echo(f"earlier releases keep their tables; the erasure is noted against {', '.join(summary['releases'])}")
    if not dry_run:
        click.echo(f"objection register: {summary['registered']} digest(s) added" if not no_objection
                   else "not added to the objection register (--no-objection)")


@cli.group("link")
def link_group() -> None:
    """Link jobs: persons from the keyed features of batches."""


@link_group.command("run")
@click.argument("sources", nargs=-1, required=True)
@click.option("--name", help="A name for the job.")
@click.option("--settings", "settings_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Link settings TOML (start from `ttp link settings --defaults`); default: the defaults.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: in this process; dask: on Dask distributed (docs/scale.md).")
@click.option("--scheduler", metavar="ADDRESS",
              help="With --engine dask: the Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: a local cluster).")
@json_option
@as_option
@click.pass_context
def link_run(ctx, sources, name, settings_file, engine, scheduler, as_json, actor) -> None:
    """Link the batches of the named sources into persons; prints the job id (operators only).

    \b
    Examples:
      ttp link run vve po vo mbo --name cohort-2007
      ttp link run febrl_a febrl_b --settings febrl.toml
      ttp link run vve po vo mbo --engine dask --scheduler tcp://10.0.0.5:8786
    """
    from .linkjob import load_link_settings, run_link
    from .progress import Progress

    link_settings = load_link_settings(settings_file) if settings_file else None
    app = get_app(ctx, actor)
    progress = Progress()
    with app.acting("link.run", {"sources": list(sources)}) as act:
        result = run_link(act, list(sources), name, progress=progress, link_settings=link_settings,
                          engine=engine, scheduler=scheduler)
    progress.done()
    if as_json:
        emit_json(result)
    else:
        click.echo(result["job_id"])
        changed = ", ".join(result["settings_changed"]) or "none (the defaults)"
        click.echo(f"{result['records']} records, {result['persons']} persons, {result['links']} links, "
                   f"{result['reviews']} for review; settings changed: {changed}", err=True)
        for advice in result["warnings"]:
            click.echo(f"warning: {advice['message']} (look at {advice['setting']})", err=True)


@link_group.command("settings")
@click.option("--defaults", is_flag=True, help="Print the default settings file to start from.")
@click.option("--check", "check_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Check a settings file and name what it changes.")
def link_settings_command(defaults, check_file) -> None:
    """Link settings: print the defaults as a file, or check a file (needs no data directory).

    \b
    Examples:
      ttp link settings --defaults > link.toml
      ttp link settings --check link.toml
    """
    from linkage.settings import LinkSettings
    from linkage.settings_file import changed_settings, dump_settings

    from .linkjob import load_link_settings

    if defaults == bool(check_file):
        raise UsageError("give one of --defaults or --check FILE")
    if defaults:
        click.echo(dump_settings(LinkSettings()), nl=False)
        return
    chosen = load_link_settings(check_file)
    changed = changed_settings(chosen)
    click.echo(f"{check_file}: ok, {len(chosen.passes)} blocking passes; changed from the defaults: "
               f"{', '.join(changed) or 'nothing'}")


@link_group.command("show")
@click.argument("job_id")
@json_option
@as_option
@click.pass_context
def link_show(ctx, job_id, as_json, actor) -> None:
    """A job: its sources, counts and the settings it ran with, as a settings file (operators only).

    \b
    Example:
      ttp link show j_0a1b2c3d4e5f
    """
    from .documents import job
    from .linkjob import SETTINGS

    app = get_app(ctx, actor)
    with app.acting("link.show", {"job": job_id}) as act:
        doc = job(act, job_id)
        path = app.settings.job_dir(doc["job_id"]) / SETTINGS
        text = path.read_text(encoding="utf-8") if doc["settings"] is not None else None
    if as_json:
        emit_json(doc)
        return
    click.echo(f"job {doc['job_id']}{' (' + doc['name'] + ')' if doc['name'] else ''}: "
               f"sources {', '.join(doc['sources'])}; {doc['records']} records, {doc['persons']} persons, "
               f"{doc['links']} links, {doc['reviews']} for review; made by {doc['created_by']} "
               f"at {doc['created_at']}")
    if text is None:
        click.echo("settings: not kept (the job was made before jobs kept their settings)")
        return
    click.echo(f"settings changed from the defaults: {', '.join(doc['settings_changed']) or 'none'}")
    click.echo(text, nl=False)


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
        if "settings_changed" in report:  # jobs made before jobs kept their settings have neither
            click.echo(f"settings changed from the defaults: {', '.join(report['settings_changed']) or 'none'} "
                       f"(`ttp link show {job.id}` prints them all)")
        for advice in report.get("warnings", []):
            click.echo(f"warning: {advice['message']} (look at {advice['setting']})")
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
    from .keywrap import WRAPPED, rewrap

    app = get_app(ctx, actor)
    rewrapped = None
    with app.acting("keys.rotate", {"purpose": purpose}) as act:
        entry = app.keystore.rotate(purpose)
        act.objects["key"] = entry.id
        if purpose in WRAPPED:  # the batches' data keys move to the new key; the sealed files stay
            rewrapped = rewrap(act, purpose)
    click.echo(f"new key {entry.id} ({entry.fingerprint})")
    if rewrapped is not None:
        click.echo(f"re-wrapped the {purpose} data keys of {plural(rewrapped, 'batch', 'batches')} under {entry.id}; "
                   "the older versions can be retired, then destroyed (`ttp keys destroy`)")
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


@keys.command("rewrap")
@click.option("--purpose", required=True, type=click.Choice(["payload", "quarantine"]))
@as_option
@click.pass_context
def keys_rewrap(ctx, purpose, actor) -> None:
    """Re-wrap every batch's data key under the active key of the purpose (`keys rotate` does it too; run it
    when a batch was ingested under an older key meanwhile). The sealed files are not touched.

    \b
    Example:
      ttp keys rewrap --purpose payload
    """
    from .keywrap import rewrap

    app = get_app(ctx, actor)
    with app.acting("keys.rewrap", {"purpose": purpose}) as act:
        done = rewrap(act, purpose)
        key = act.objects["key"]
    click.echo(f"re-wrapped the {purpose} data keys of {plural(done, 'batch', 'batches')} under {key}")


@keys.command("destroy")
@click.argument("key_id")
@as_option
@click.pass_context
def keys_destroy(ctx, key_id, actor) -> None:
    """Destroy a retired key for good: refused while a batch still needs it (re-wrap first) and for
    audit-signing keys. Backups made before keep their copy of the keystore.

    \b
    Example:
      ttp keys destroy payload-v1
    """
    from .keywrap import destroy

    app = get_app(ctx, actor)
    with app.acting("keys.destroy", {"key": key_id}) as act:
        purpose = destroy(act, key_id)
    click.echo(f"destroyed {key_id}: no file of the keystore holds it any more")
    if purpose == "payload":
        click.echo("note: a delivery still sealed to its delivery key can no longer be opened")


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


@keys.command("export-delivery-key")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the PEM here.")
@as_option
@click.pass_context
def keys_export_delivery_key(ctx, out, actor) -> None:
    """Print (or write) the X25519 public key suppliers seal their deliveries to, as PEM.

    It is derived from the active payload key: after `ttp keys rotate --purpose payload`, give suppliers
    the new one (deliveries sealed to an older version still open).

    \b
    Example:
      ttp keys export-delivery-key --out ttp-delivery.pem
    """
    from .suppliers import delivery_key_pem

    app = get_app(ctx, actor)
    with app.acting("keys.export-delivery-key"):
        pem = delivery_key_pem(app.keystore)
    if out:
        out.write_bytes(pem)
        click.echo(f"wrote {out}")
    else:
        click.echo(pem.decode().rstrip())


# --- suppliers (at the TTP) and the supplier kit (at the school) ------------------------------------------------


@cli.group()
def suppliers() -> None:
    """The suppliers whose signed deliveries the TTP accepts."""


@suppliers.command("add")
@click.argument("name")
@click.option("--public-key", "public_key", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The supplier's Ed25519 public key (PEM, from `ttp supplier keygen`).")
@click.option("--secret-version", default=1, show_default=True, type=int,
              help="The version of the suppliers' shared secret its deliveries must be made under.")
@json_option
@as_option
@click.pass_context
def suppliers_add(ctx, name, public_key, secret_version, as_json, actor) -> None:
    """Register a supplier: its deliveries are verified against this key (audited).

    \b
    Example:
      ttp suppliers add obs-de-linde --public-key obs-de-linde.pub
    """
    from .suppliers import add_supplier

    app = get_app(ctx, actor)
    try:
        pem = public_key.read_bytes()
    except OSError as exc:
        raise TTPError(f"{public_key}: cannot read ({exc.strerror})") from None
    with app.acting("suppliers.add", {"supplier": name}) as act:
        doc = add_supplier(act, name, pem, secret_version)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"supplier {doc['name']} registered (key {doc['fingerprint']}, secret v{doc['secret_version']})")


@suppliers.command("update")
@click.argument("name")
@click.option("--public-key", "public_key", type=click.Path(path_type=Path, dir_okay=False),
              help="A new Ed25519 public key (PEM) for the supplier.")
@click.option("--secret-version", type=int, help="The shared secret version its deliveries must use from now on.")
@json_option
@as_option
@click.pass_context
def suppliers_update(ctx, name, public_key, secret_version, as_json, actor) -> None:
    """Replace a supplier's key, or move it to a new version of the shared secret (audited).

    \b
    Example:
      ttp suppliers update obs-de-linde --secret-version 2
    """
    from .suppliers import update_supplier

    app = get_app(ctx, actor)
    try:
        pem = public_key.read_bytes() if public_key else None
    except OSError as exc:
        raise TTPError(f"{public_key}: cannot read ({exc.strerror})") from None
    with app.acting("suppliers.update", {"supplier": name}) as act:
        doc = update_supplier(act, name, pem, secret_version)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"supplier {doc['name']}: key {doc['fingerprint']}, secret v{doc['secret_version']}")


@suppliers.command("list")
@json_option
@as_option
@click.pass_context
def suppliers_list(ctx, as_json, actor) -> None:
    """List the registered suppliers with their key fingerprints.

    \b
    Example:
      ttp suppliers list --json
    """
    from .suppliers import list_suppliers

    app = get_app(ctx, actor)
    with app.acting("suppliers.list") as act:
        rows = list_suppliers(act)
    if as_json:
        emit_json({"suppliers": rows})
    else:
        for r in rows:
            click.echo(f"{r['name']:<24} {r['fingerprint']}  secret v{r['secret_version']}")


@cli.group()
def recipients() -> None:
    """Designated recipients (CBS): suppliers seal identities to them; the TTP forwards them unread."""


@recipients.command("add")
@click.argument("name")
@click.option("--public-key", "public_key", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The recipient's X25519 public key (PEM).")
@json_option
@as_option
@click.pass_context
def recipients_add(ctx, name, public_key, as_json, actor) -> None:
    """Register a designated recipient's public key (audited; in force once another officer approves).

    \b
    Example:
      ttp recipients add cbs --public-key cbs.pem
    """
    from .recipients import add_recipient

    app = get_app(ctx, actor)
    try:
        pem = public_key.read_bytes()
    except OSError as exc:
        raise TTPError(f"{public_key}: cannot read ({exc.strerror})") from None
    with app.acting("recipients.add", {"recipient": name}) as act:
        doc = add_recipient(act, name, pem)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"recipient {doc['name']} registered (key {doc['fingerprint']}); a second privacy officer "
                   f"approves it: ttp recipients approve {doc['name']}")


def _decide_recipient(ctx, name: str, approve: bool, as_json: bool, actor: str | None) -> None:
    from .recipients import decide_recipient

    app = get_app(ctx, actor)
    with app.acting("recipients.approve" if approve else "recipients.deny", {"recipient": name}) as act:
        doc = decide_recipient(act, name, approve)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"recipient {doc['name']} {doc['status']} (key {doc['fingerprint']})")


@recipients.command("approve")
@click.argument("name")
@json_option
@as_option
@click.pass_context
def recipients_approve(ctx, name, as_json, actor) -> None:
    """Approve a designated recipient another user added (four eyes).

    \b
    Example:
      ttp recipients approve cbs
    """
    _decide_recipient(ctx, name, True, as_json, actor)


@recipients.command("deny")
@click.argument("name")
@json_option
@as_option
@click.pass_context
def recipients_deny(ctx, name, as_json, actor) -> None:
    """Deny a pending designated recipient.

    \b
    Example:
      ttp recipients deny cbs
    """
    _decide_recipient(ctx, name, False, as_json, actor)


@recipients.command("list")
@json_option
@as_option
@click.pass_context
def recipients_list(ctx, as_json, actor) -> None:
    """List the designated recipients with their key fingerprints and status.

    \b
    Example:
      ttp recipients list --json
    """
    from .recipients import list_recipients

    app = get_app(ctx, actor)
    with app.acting("recipients.list") as act:
        rows = list_recipients(act)
    if as_json:
        emit_json({"recipients": rows})
    else:
        for r in rows:
            click.echo(f"{r['name']:<24} {r['fingerprint']}  {r['status']}")


def _supplier_passphrase(confirm: bool = False) -> str:
    """The supplier key's passphrase from `TTP_SUPPLIER_PASSPHRASE`, else a hidden prompt."""
    value = os.environ.get("TTP_SUPPLIER_PASSPHRASE")
    if value:
        return value
    try:
        value = hidden_prompt("Supplier key passphrase", confirm)
    except (click.Abort, EOFError):
        raise UsageError("no passphrase: set TTP_SUPPLIER_PASSPHRASE or run in a terminal") from None
    if not value:
        raise UsageError("the passphrase must not be empty")
    return value


@cli.group()
def supplier() -> None:
    """The supplier kit: keys and shared secret at the school (`ttp supply` makes a delivery)."""


@supplier.command("keygen")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The private key file to write (the public key goes to OUT.pub).")
def supplier_keygen(out) -> None:
    """Make the supplier's Ed25519 signing key, encrypted under a passphrase (TTP_SUPPLIER_PASSPHRASE).

    Send OUT.pub to the TTP; keep OUT (and its passphrase) at the school.

    \b
    Example:
      ttp supplier keygen --out obs-de-linde.key
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from keys import envelope

    from .supply import write_new

    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists():
            raise TTPError(f"{path} exists already: give a new --out")
    key = Ed25519PrivateKey.generate()
    write_new(out, envelope.private_pem(key, _supplier_passphrase(confirm=True)), mode=0o600)
    write_new(public, envelope.public_pem(key.public_key()))
    click.echo(f"wrote {out} and {public} (key {envelope.fingerprint(key.public_key())})")


@supplier.command("new-secret")
@click.option("--version", "version", required=True, type=int, help="The secret's version (1, then 2 on rotation).")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False))
def supplier_new_secret(version, out) -> None:
    """Make the suppliers' shared linkage secret (once per region and version, by the coordinating party).

    Hand the file to every supplier out of band; the TTP never receives it (docs/privacy.md).

    \b
    Example:
      ttp supplier new-secret --version 1 --out region-secret-v1.json
    """
    from keys import delivery
    from keys.errors import EnvelopeError

    from .supply import write_new

    if out.exists():
        raise TTPError(f"{out} exists already: give a new --out")
    try:
        text = delivery.new_shared_secret(version)
    except EnvelopeError as exc:
        raise UsageError(str(exc)) from None
    write_new(out, text.encode(), mode=0o600)
    click.echo(f"wrote {out} (shared secret v{version})")


@supplier.command("quarantine")
@click.argument("delivery_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="CSV of the rejected rows with their raw values (plaintext: keep it at the school).")
def supplier_quarantine(delivery_file, key_file, out) -> None:
    """Open the rows `ttp supply` rejected (kept beside the delivery, sealed under the supplier's key).

    \b
    Example:
      ttp supplier quarantine po.delivery --key obs-de-linde.key --out rejected.csv
    """
    import csv

    from keys import delivery
    from keys.errors import EnvelopeError

    from .supply import QUARANTINE_SUFFIX, open_quarantine, read_supplier_key

    try:
        delivery_id = delivery.read(delivery_file.read_bytes()).delivery_id
    except EnvelopeError as exc:
        raise TTPError(f"{delivery_file}: {exc}") from None
    sealed = delivery_file.with_name(delivery_file.name + QUARANTINE_SUFFIX)
    if not sealed.exists():
        raise TTPError(f"{sealed}: no rejected rows kept for this delivery")
    rows = open_quarantine(sealed, read_supplier_key(key_file, _supplier_passphrase()), delivery_id)
    fields = sorted({k for r in rows for k in r["raw"]})
    with open(out, "x", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["export_file", "row_number", "reasons", *fields])
        for r in rows:
            writer.writerow([r["export_file"], r["row_number"], "; ".join(r["reasons"]),
                             *[r["raw"].get(f, "") for f in fields]])
    click.echo(f"wrote {len(rows)} rejected row(s) to {out}")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--source", required=True, metavar="NAME", help="Source name at the TTP, e.g. po, vo.")
@click.option("--profile", type=click.Path(path_type=Path, dir_okay=False), help="Profile TOML for CSV/XLSX.")
@click.option("--format", "fmt", type=click.Choice(["edexml"]), help="A format that needs no profile.")
@click.option("--school-year", metavar="YYYY-YYYY", help="School year when the export does not say.")
@click.option("--supplier", "supplier_name", required=True, metavar="NAME", help="The name the TTP registered.")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The supplier's private key file (from `ttp supplier keygen`).")
@click.option("--secret", "secret_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The suppliers' shared secret file (default: TTP_SUPPLIER_SECRET_FILE).")
@click.option("--ttp-key", "ttp_key", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The TTP's delivery key (PEM, from `ttp keys export-delivery-key`).")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False), help="The delivery file.")
@click.option("--recipient", "recipient_specs", multiple=True, metavar="NAME=PEM",
              help="A designated recipient (CBS) and its X25519 public key: each record's BSN (or the fields CBS "
                   "links on) is sealed to it; the TTP forwards these unread. Repeatable.")
@json_option
def supply(paths, source, profile, fmt, school_year, supplier_name, key_file, secret_file, ttp_key, out,
           recipient_specs, as_json) -> None:
    """Pseudonymise an export at the school into one signed delivery sealed to the TTP.

    The same validation and pseudonymiser as `ttp ingest`, keyed with the suppliers' shared secret;
    rejected rows stay here (OUT.quarantine, sealed under the supplier's key), only their counts and
    reasons travel. Needs no TTP data directory.

    \b
    Example:
      ttp supply po/ --format edexml --source po --supplier obs-de-linde --key obs-de-linde.key \\
          --secret region-secret-v1.json --ttp-key ttp-delivery.pem --out po.delivery
      ttp supply vo.csv --profile vo.toml --source vo --supplier vo-1 --key vo-1.key \\
          --secret region-secret-v1.json --ttp-key ttp-delivery.pem --recipient cbs=cbs.pem --out vo.delivery
    """
    from .ingest import open_source
    from .supply import make_delivery, read_recipients, read_shared_secret, read_supplier_key, read_ttp_key

    secret = read_shared_secret(secret_file)
    designated = read_recipients(list(recipient_specs))
    recipient = read_ttp_key(ttp_key)
    signer = read_supplier_key(key_file, _supplier_passphrase())
    export = open_source(list(paths), profile, fmt, school_year)
    result = make_delivery(export, source=source, supplier=supplier_name, secret=secret, signer=signer,
                           ttp_key=recipient, out=out, recipients=designated)
    if as_json:
        emit_json(result.as_json())
    else:
        click.echo(f"delivery {result.delivery_id} written to {out}: {result.rows_read} rows read, "
                   f"{result.accepted} accepted, {result.quarantined} kept back (sealed in "
                   f"{result.quarantine_file or 'no file: none rejected'})")
        for reason, n in result.reasons.items():
            click.echo(f"  {n} row(s): {reason}")
        for name, n in result.identities.items():
            click.echo(f"  {n} identit(ies) sealed to {name} (the TTP cannot open them)")


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
        if result["unanchored"]:
            first = result["anchored"] + 1
            span = f"event {first} is" if result["unanchored"] == 1 else f"events {first}..{result['events']} are"
            click.echo(f"{span} covered by no checkpoint: only a checkpoint kept off this machine vouches for "
                       "them (`ttp audit verify --checkpoint kept.txt --public-key audit-key.pem`)")
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
    elif doc.get("kind") == "cbs-delivery":
        click.echo(f"release {doc['release_id']} for {doc['recipient']} (project {doc['project']}) written to {out}: "
                   f"{doc['persons']} persons, {doc['identities']} sealed identities, signed manifest")
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
    bad = [r["release_id"] for r in results if r["reproduced"] is False]
    if as_json:
        emit_json({"releases": results, "ok": not bad})
    else:
        for r in results:
            verdict = {True: "reproduces byte for byte", False: "does NOT reproduce", None: "was not recomputed"}[
                r["reproduced"]]
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
    from .cbs import recipient_releases
    from .exporting import list_releases

    app = get_app(ctx.find_root(), actor)
    with app.acting("release.list") as act:
        rows = list_releases(act)
        # microdata for a recipient and the tables that came back: an operator's or officer's business
        routed = recipient_releases(act) if act.user.role != "researcher" else []
    if as_json:
        emit_json({"releases": rows, "recipient_releases": routed})
    else:
        for r in rows:
            click.echo(f"#{r['seq']:<4} {r['release_id']}  {r['request_id']}  {r['requester']:<12} {r['policy']}"
                       f"  {r['created_at']}")
        for r in routed:
            what = (f"external table from {r['recipient']} ({r['title']}), from {r['derived_from']}"
                    if r["external"] else f"microdata for {r['recipient']}, request {r['request_id']}")
            removed = f" (files removed by retention on {r['files_removed']})" if r["files_removed"] else ""
            click.echo(f"{r['kind']:<8} {r['release_id']}  project {r['project']}: {what}  {r['created_at']}{removed}")


@release.command("import")
@click.argument("table", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--recipient", required=True, metavar="NAME", help="The recipient whose environment made the table.")
@click.option("--delivery", "delivery_id", required=True, metavar="RELEASE",
              help="The cbs-delivery release the table was computed from.")
@click.option("--title", required=True, help="What the table shows (kept with it).")
@json_option
@as_option
@click.pass_context
def release_import(ctx, table, recipient, delivery_id, title, as_json, actor) -> None:
    """Import a table that came out of the recipient's output check as an external release, after ttp's own
    disclosure rules passed on every cell (layout: docs/nco.md).

    \b
    Example:
      ttp release import doorstroom.csv --recipient cbs --delivery rel_0a1b2c3d4e5f --title "advice by vo level"
    """
    from .cbs import import_external

    app = get_app(ctx.find_root(), actor)
    with app.acting("release.import", {"recipient": recipient}) as act:
        doc = import_external(act, table, recipient, delivery_id, title)
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"external release {doc['release_id']} from {recipient} imported: {doc['rows']} rows, every "
                   f"count at least {doc['threshold']} or 0 (policy {doc['policy']} v{doc['policy_version']})")


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
    removed = f" (removed by retention on {doc['files_removed']})" if doc["files_removed"] else ""
    click.echo(f"files: {', '.join(doc['files'])}{removed}")
    if doc["erasures"]:
        click.echo(f"erased since: {', '.join(doc['erasures'])} (a child's records left its link job; this table "
                   "stays as released)")
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


@cli.command()
@click.argument("school", required=False)
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="The report (.pdf, or .png for its first page); with --all a folder.")
@click.option("--all", "every", is_flag=True, help="Every school of the board given by --board.")
@click.option("--board", help="The board (bevoegd gezag number) whose schools --all renders.")
@click.option("--mbo", "institution", metavar="INSTELLING",
              help="An mbo institution (BRIN + vestiging): its teams' pages from the mbo round, a page per opleiding.")
@click.option("--crebo", help="With --mbo: only this opleiding (crebo code).")
@click.option("--round", "round_id", metavar="REQUEST",
              help="A school's report from one released round (an earlier one as it was); default: the newest.")
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@as_option
@click.pass_context
def feedback(ctx, school, out, every, board, institution, crebo, round_id, lang, actor) -> None:
    """Render a school's feedback report from the released feedback round, or an mbo team's page from the
    mbo round (docs/feedback.md).

    \b
    Examples:
      ttp feedback 01QW00 --out 01QW00.pdf
      ttp feedback --all --board 65388 --out reports/
      ttp feedback 01QW00 --round r_0a1b2c3d4e5f --out 01QW00-2025.pdf
      ttp feedback --mbo 04DM00 --crebo 25604 --out team.pdf
    """
    from .feedback import feedback_board, feedback_mbo, feedback_one
    from .progress import Progress

    if institution is not None or crebo is not None:
        if institution is None or school or every or board or round_id:
            raise click.UsageError("--mbo INSTELLING [--crebo CODE] goes without SCHOOL, --all, --board and --round")
        app = get_app(ctx, actor)
        with app.acting("feedback", {}) as act:
            reports = feedback_mbo(act, institution, crebo, out, lang)
        click.echo(f"wrote {out}: {reports[0].institution.code}, {len(reports)} opleiding(en) "
                   f"({', '.join(r.crebo for r in reports)}), from "
                   f"{len({t.release_id for r in reports for t in r.sources})} release(s)")
        return
    if every == bool(school) or every != bool(board):
        raise click.UsageError("give one SCHOOL, or --all with --board")
    app = get_app(ctx, actor)
    if school:
        with app.acting("feedback", {}) as act:
            report = feedback_one(act, school, out, lang, round_id)
        click.echo(f"wrote {out}: {report.school.code}, from {len(report.sources)} release(s)")
        return
    progress = Progress()
    with app.acting("feedback", {}) as act:
        written = feedback_board(act, board, out, lang, progress, round_id)
    progress.done()
    click.echo(f"wrote {len(written)} report(s) to {out}")


# --- demo ----------------------------------------------------------------------------------------------------


@cli.group(cls=DefaultCommandGroup)
def demo() -> None:
    """The whole chain on a synthetic Limburg cohort (`ttp demo`), or the cohort alone (`ttp demo generate`)."""


@demo.command("run")
@click.option("--cohort", default=300, show_default=True, help="Pupils per year group (15 year groups).")
@click.option("--seed", default=1, show_default=True)
@click.option("--feedback/--no-feedback", default=True, show_default=True,
              help="Release the feedback round (one request, a table per indicator and level; docs/feedback.md).")
@click.option("--mbo/--no-mbo", "mbo_round", default=False, show_default=True,
              help="Also release the mbo feedback round after the school round (per opleiding: vsv and switching "
                   "in the first mbo year; docs/feedback.md): its joint audit adds about 30 s on the "
                   "default cohort.")
@click.option("--history/--no-history", default=False, show_default=True,
              help="Also release four researchers' school-level tables one after another, after the round (each "
                   "protected together with every release before it: slow, minutes on the default cohort).")
@json_option
@click.pass_context
def demo_run(ctx, cohort, seed, feedback, mbo_round, history, as_json) -> None:
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
                       history=history, feedback_round=feedback, mbo_round=mbo_round)
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
