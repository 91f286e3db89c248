"""The roles, and every action with the roles that may run it: declared once, for the CLI and the web."""

from __future__ import annotations

from dataclasses import dataclass

OPERATOR = "operator"
PRIVACY_OFFICER = "privacy-officer"
RESEARCHER = "researcher"
SCHOOL = "school"  # a school team, bound to its BRIN-vestigingen: reads their feedback reports, nothing else
ROLES = (OPERATOR, PRIVACY_OFFICER, RESEARCHER, SCHOOL)
PENDING = "pending"  # a user whose privacy-officer role waits for another officer's approval: no rights yet
REMOVED = "removed"  # a removed user: no rights, no credentials; the row stays so the name is never reused

ANY = (OPERATOR, PRIVACY_OFFICER, RESEARCHER)  # every role that works with requests and releases
EVERYONE = ROLES  # one's own account and the start page
OFFICE = (OPERATOR, PRIVACY_OFFICER)


@dataclass(frozen=True)
class Action:
    """What an action does, who may run it, and whether it only reads (no audit event for a web page view)."""

    roles: tuple[str, ...]
    what: str
    reads: bool = False


_OP, _PO = (OPERATOR,), (PRIVACY_OFFICER,)
_RE_PO = (RESEARCHER, PRIVACY_OFFICER)

ACTIONS: dict[str, Action] = {
    # users and credentials
    "users.add": Action(_OP, "add a user (a privacy officer waits for an officer's approval)"),
    "users.pending": Action(OFFICE, "list privacy-officer roles waiting for approval", reads=True),
    "users.approve": Action(_PO, "approve another user's privacy-officer role"),
    "users.deny": Action(_PO, "deny another user's privacy-officer role"),
    "users.list": Action(ANY, "list users and their roles", reads=True),
    "users.role": Action(OFFICE, "change a user's role (to privacy officer: waits for another officer; "
                                 "from it: an officer only)"),
    "users.remove": Action(OFFICE, "remove a user: no rights, no credentials, audit history kept "
                                   "(a privacy officer: by an officer only)"),
    "users.passwd": Action(EVERYONE, "set a password (one's own, or a first one: the README says whose)"),
    "users.token": Action(EVERYONE, "make an API token for oneself"),
    "users.token.revoke": Action(EVERYONE,
                                 "revoke tokens, end web sessions (one's own; an officer or operator: anyone's)"),
    # keys
    "keys.list": Action(_OP, "list the keys", reads=True),
    "keys.rotate": Action(_OP, "make a new key for a purpose"),
    "keys.retire": Action(_OP, "retire a key"),
    "keys.rewrap": Action(_OP, "re-wrap every batch's data keys under the active payload or quarantine key"),
    "keys.destroy": Action(_OP, "destroy a retired key that nothing is wrapped under any more"),
    "keys.change-passphrase": Action(_OP, "change the keystore passphrase"),
    "keys.export-verify-key": Action(OFFICE, "export the key that verifies audit checkpoints"),
    "keys.export-delivery-key": Action(_OP, "export the public key suppliers seal their deliveries to"),
    # suppliers (the first pseudonymisation at the school)
    "suppliers.add": Action(OFFICE, "register a supplier's signing key and the shared-secret version it uses"),
    "suppliers.update": Action(OFFICE, "replace a supplier's key, or the secret version it must use (rotation)"),
    "suppliers.list": Action(OFFICE, "list the registered suppliers", reads=True),
    # retention and backup
    "retention.apply": Action(_OP, "delete the batches, link jobs and release files past the policies' retention "
                                   "periods (--dry-run: list them)"),
    "backup": Action(_OP, "write an encrypted backup of the database, the data folders and the keystore"),
    "restore": Action(_OP, "restore a backup into an empty data directory and database (as an operator of the backup)"),
    # designated recipients (CBS): identities sealed to them travel through the TTP unread
    "recipients.add": Action(OFFICE, "register a designated recipient's public key (in force after a second "
                             "officer approves)"),
    "recipients.approve": Action(_PO, "approve another user's designated recipient"),
    "recipients.deny": Action(_PO, "deny a designated recipient"),
    "recipients.list": Action(OFFICE, "list the designated recipients", reads=True),
    # data in and linkage
    "ingest": Action(_OP, "ingest a source export or a supplier's delivery (verified, pseudonymised, bad rows "
                     "quarantined)"),
    "batches.list": Action(_OP, "list ingested batches", reads=True),
    "batches.show": Action(_OP, "show one batch", reads=True),
    "batches.supersede": Action(_OP, "let a corrected delivery replace an earlier batch (link jobs leave it out)"),
    "quarantine.show": Action(_OP, "show a batch's quarantined rows (reasons only)", reads=True),
    "quarantine.export": Action(_OP, "export a batch's quarantined rows to fix them"),
    "persons.erase": Action(_OP, "erase one child everywhere (identifiers from a file or a prompt) and register "
                            "the objection; --dry-run counts only"),
    "schools.import": Action(_OP, "import the school register"),
    "link.run": Action(_OP, "run a link job"),
    "link.list": Action(_OP, "list link jobs", reads=True),
    "link.show": Action(_OP, "show a link job", reads=True),
    "link.evaluate": Action(_OP, "evaluate a link job against known truth"),
    "link.report": Action(OFFICE, "the quality report of a link job"),
    "link.review.show": Action(_OP, "show the pairs of a link job that wait for clerical review", reads=True),
    "link.review": Action(_OP, "accept or reject pairs in clerical review"),
    # policies
    "policy.add": Action(_PO, "add a policy version (takes effect after a second officer approves)"),
    "policy.pending": Action(_PO, "list policy versions waiting for approval", reads=True),
    "policy.approve": Action(_PO, "approve another officer's policy version"),
    "policy.deny": Action(_PO, "deny another officer's policy version"),
    "policy.list": Action(ANY, "list the policies in force", reads=True),
    "policy.show": Action(ANY, "show a policy", reads=True),
    # requests and releases
    # an officer may ask for a table too (for a school, say); another officer decides it
    "request.form": Action(_RE_PO, "the web form for a new request", reads=True),
    "request.check": Action(_RE_PO, "check a request against its policy without submitting it"),
    "request.submit": Action(_RE_PO, "submit a request for a table (decided by an officer other than its author)"),
    "request.list": Action(ANY, "list requests (a researcher: their own)", reads=True),
    "request.show": Action(ANY, "show a request (a researcher: their own)", reads=True),
    "request.queue": Action(_PO, "the requests waiting for a decision", reads=True),
    "request.preview": Action(_PO, "preview the protected table of a request", reads=True),
    "request.approve": Action(_PO, "approve another user's request (a reason is required)"),
    "request.deny": Action(_PO, "deny a request (a reason is required)"),
    "release.pending": Action(_OP, "the approved requests whose release is still to be made", reads=True),
    "release": Action(_OP, "compute, protect and write the release of an approved request"),
    "release.verify": Action(OFFICE, "recompute releases and compare their bytes"),
    "release.import": Action(OFFICE, "import a table from a recipient's environment as an external release "
                             "(ttp's disclosure rules checked on it)"),
    "release.list": Action(ANY, "list releases (a researcher: their own)", reads=True),
    "release.show": Action(ANY, "show a release (a researcher: their own)", reads=True),
    "release.download": Action(ANY, "download a file of a release (a researcher: their own)"),
    "factsheet": Action(ANY, "render the factsheet of a release (a researcher: their own)"),
    "feedback.own": Action((SCHOOL,), "the list of one's own schools and their feedback reports", reads=True),
    "feedback.download": Action((SCHOOL,), "download the feedback report of one's own school"),
    "feedback": Action(OFFICE, "render a school's feedback report, or every school of a board's, from released tables"),
    # the audit log
    "audit.show": Action(OFFICE, "read the audit log (on the web: one event per sign-in session)"),
    "audit.verify": Action(OFFICE, "verify the audit log's chain and checkpoints"),
    "audit.checkpoint": Action(OFFICE, "sign a checkpoint of the audit log now"),
    "audit.checkpoint.show": Action(OFFICE, "show the newest signed checkpoint", reads=True),
    "audit.prove": Action(OFFICE, "prove that one event is in the log"),
    "audit.export": Action(OFFICE, "export the audit log with its checkpoints"),
    # the web's own pages
    "web.home": Action(EVERYONE, "the start page", reads=True),
    "web.me": Action(EVERYONE, "who the API token belongs to", reads=True),
}


def action(name: str) -> Action:
    """The declaration of an action; an undeclared name is a programming error."""
    try:
        return ACTIONS[name]
    except KeyError:
        raise KeyError(f"action {name!r} is not declared in ttp/roles.py") from None


def allowed(name: str) -> tuple[str, ...]:
    """The roles that may run an action."""
    return action(name).roles


def role_table() -> str:
    """The actions and their roles as a Markdown table (the one in docs/roles.md is this)."""
    short = {OPERATOR: "operator", PRIVACY_OFFICER: "officer", RESEARCHER: "researcher", SCHOOL: "school"}
    lines = ["| action | operator | officer | researcher | school | what |", "|---|:-:|:-:|:-:|:-:|---|"]
    for name, act in ACTIONS.items():
        marks = " | ".join("yes" if role in act.roles else "" for role in short)
        lines.append(f"| `{name}` | {marks} | {act.what} |")
    return "\n".join(lines) + "\n"
