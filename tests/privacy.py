"""The privacy test's scanner: finds identifying input values in everything ttp wrote or printed."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from defusedxml import ElementTree

PARTICLES = {"van", "der", "den", "de", "ter", "ten", "het", "op", "in", "te", "la", "le", "du", "d'", "'t"}
MIN_NAME = 5  # shorter name tokens (Ria, Jan) occur by chance in binary data and in ordinary words
# the tests' own user names are printed and stored by design; a pupil who shares one is no leak
TEST_USERS = {"olga", "pieter", "petra", "rosa", "mallory"}


@dataclass(frozen=True)
class Hit:
    where: str
    kind: str


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


class Identifiers:
    """The identifying values that went in, by kind, in the forms they were written and normalised."""

    def __init__(self) -> None:
        self.by_kind: dict[str, set[str]] = {"bsn": set(), "onderwijsnummer": set(), "name": set(),
                                             "birth date": set(), "postcode": set(), "keyed": set()}

    def add_number(self, kind: str, value: str | None) -> None:
        digits = re.sub(r"\D", "", value or "")
        if len(digits) >= 8:
            self.by_kind[kind].add(digits)

    def add_name(self, value: str | None) -> None:
        for token in re.split(r"[\s,\-.]+", value or ""):
            if len(token) >= MIN_NAME and token.casefold() not in PARTICLES | TEST_USERS:
                self.by_kind["name"].add(token)
                self.by_kind["name"].add(_fold(token))

    def add_keyed(self, value: int | str) -> None:
        """A keyed value of one child (a feature's int64, as Parquet decodes to text, or a hex record id): an
        erasure must leave none of them."""
        text = str(abs(value)) if isinstance(value, int) else value
        if text and text != "0":
            self.by_kind["keyed"].add(text)

    def add_date(self, value: date) -> None:
        d, m, y = value.day, value.month, value.year
        for form in (f"{y:04d}-{m:02d}-{d:02d}", f"{d:02d}-{m:02d}-{y:04d}", f"{d}-{m}-{y}",
                     f"{y:04d}{m:02d}{d:02d}", f"{d:02d}/{m:02d}/{y:04d}"):
            self.by_kind["birth date"].add(form)

    def add_postcode(self, value: str | None) -> None:
        compact = re.sub(r"\s", "", value or "").upper()
        if re.fullmatch(r"[1-9]\d{3}[A-Z]{2}", compact):
            self.by_kind["postcode"].update({compact, f"{compact[:4]} {compact[4:]}", compact.lower()})

    def patterns(self) -> list[tuple[str, re.Pattern[bytes]]]:
        """One regular expression per kind and chunk of values (the slow, plain form of `finder`)."""
        return [(kind, rx) for kind, values in self.by_kind.items() for rx in _alternations(kind, values)]

    def finder(self) -> Finder:
        """The same search as `patterns`, by set lookups of the blob's tokens where a value is one token."""
        return Finder(self.by_kind)


def _alternations(kind: str, values: Iterable[str]) -> list[re.Pattern[bytes]]:
    ordered = sorted(values, key=len, reverse=True)
    out = []
    for start in range(0, len(ordered), 2000):
        alternatives = b"|".join(re.escape(v.encode("utf-8")) for v in ordered[start:start + 2000])
        if kind in ("bsn", "onderwijsnummer", "keyed"):
            out.append(re.compile(rb"(?<!\d)(?:" + alternatives + rb")(?!\d)"))
        elif kind == "name":
            out.append(re.compile(rb"(?i)(?<![A-Za-z])(?:" + alternatives + rb")(?![A-Za-z])"))
        else:
            out.append(re.compile(rb"(?<![\dA-Za-z])(?:" + alternatives + rb")(?![\dA-Za-z])"))
    return out


# Each token shape with the boundary of its kind: a value of that shape occurs in a blob exactly when one of
# these (overlapping) matches equals it. Values of no such shape keep a regular expression.
_DIGITS = re.compile(rb"(?<!\d)\d+(?!\d)")
_LETTERS = re.compile(rb"(?<![A-Za-z])[A-Za-z]+(?![A-Za-z])")
_ALNUM = re.compile(rb"(?<![\dA-Za-z])[\dA-Za-z]+(?![\dA-Za-z])")
_SEPARATED = re.compile(rb"(?<![\dA-Za-z])(?=(\d{1,4}[-/]\d{1,2}[-/]\d{1,4}|\d{4} [A-Za-z]{2})(?![\dA-Za-z]))")


class Finder:
    """Which kinds of identifying value occur in a blob, found by token lookups."""

    def __init__(self, by_kind: dict[str, set[str]]) -> None:
        self.sets: list[tuple[str, re.Pattern[bytes], set[bytes], bool]] = []
        self.rest: list[tuple[str, re.Pattern[bytes]]] = []
        for kind, values in by_kind.items():
            encoded = {v.encode("utf-8") for v in values}
            if kind in ("bsn", "onderwijsnummer"):
                self.sets.append((kind, _DIGITS, encoded, False))
                continue
            if kind == "keyed":  # int64 features as digits, record ids as hex tokens
                numbers = {v for v in encoded if v.isdigit()}
                self.sets += [(kind, _DIGITS, numbers, False), (kind, _ALNUM, encoded - numbers, False)]
                continue
            if kind == "name":
                simple = {v for v in encoded if re.fullmatch(rb"[A-Za-z]+", v)}
                self.sets.append((kind, _LETTERS, {v.lower() for v in simple}, True))
            else:
                simple = {v for v in encoded if re.fullmatch(rb"[\dA-Za-z]+", v)}
                self.sets.append((kind, _ALNUM, simple, False))
                shaped = {v for v in encoded - simple
                          if re.fullmatch(rb"\d{1,4}[-/]\d{1,2}[-/]\d{1,4}|\d{4} [A-Za-z]{2}", v)}
                self.sets.append((kind, _SEPARATED, shaped, False))
                simple |= shaped
            rest = {v.decode("utf-8") for v in encoded - simple}
            self.rest += [(kind, rx) for rx in _alternations(kind, rest)] if rest else []

    def kinds(self, blob: bytes) -> set[str]:
        found: set[str] = set()
        tokens: dict[re.Pattern[bytes], tuple[set[bytes], set[bytes]]] = {}
        for kind, shape, values, fold in self.sets:
            if kind in found or not values:
                continue
            if shape not in tokens:
                seen = {m.group(1) if m.groups() else m.group(0) for m in shape.finditer(blob)}
                tokens[shape] = (seen, {t.lower() for t in seen})
            if values & tokens[shape][1 if fold else 0]:
                found.add(kind)
        for kind, rx in self.rest:
            if kind not in found and rx.search(blob):
                found.add(kind)
        return found


def _parse_date(text: str) -> date | None:
    text = (text or "").strip()
    for rx, order in ((r"(\d{4})-(\d{1,2})-(\d{1,2})", "ymd"), (r"(\d{1,2})-(\d{1,2})-(\d{4})", "dmy")):
        m = re.fullmatch(rx, text)
        if m:
            parts = dict(zip(order, map(int, m.groups()), strict=True))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError:
                return None
    return None


NAME_COLUMNS = ("achternaam", "voornamen", "voornaam", "roepnaam", "naam")
BSN_COLUMNS = ("bsn",)
ONR_COLUMNS = ("onderwijsnummer",)
DATE_COLUMNS = ("geboortedatum", "geb.datum", "geb_datum")
POSTCODE_COLUMNS = ("postcode",)


def from_cohort(cohort: Path) -> Identifiers:
    """Read the identifying columns of every export the demo generator wrote (CSV and EDEXML)."""
    ids = Identifiers()
    for path in sorted(cohort.rglob("*.csv")):  # a cohort, or a region with a folder per school year
        if path.name in ("truth.csv", "schools.csv", "po_toets.csv"):
            continue
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("cp1252")
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=";,\t")
        for row in csv.DictReader(text.splitlines(), dialect=dialect):
            for column, value in row.items():
                name = (column or "").strip().casefold()
                if any(n in name for n in NAME_COLUMNS) and "school" not in name and "vestiging" not in name:
                    ids.add_name(value)
                elif name in BSN_COLUMNS:
                    ids.add_number("bsn", value)
                elif name in ONR_COLUMNS:
                    ids.add_number("onderwijsnummer", value)
                elif name in DATE_COLUMNS:
                    parsed = _parse_date(value)
                    if parsed:
                        ids.add_date(parsed)
                elif name in POSTCODE_COLUMNS:
                    ids.add_postcode(value)
    for path in sorted(cohort.rglob("*.xml")):
        for element in ElementTree.parse(path).iter():
            tag = element.tag.rsplit("}", 1)[-1]
            value = (element.text or "").strip()
            if tag in ("achternaam", "voornamen", "roepnaam"):
                ids.add_name(value)
            elif tag == "bsn":
                ids.add_number("bsn", value)
            elif tag == "onderwijsnummer":
                ids.add_number("onderwijsnummer", value)
            elif tag == "geboortedatum":
                parsed = _parse_date(value)
                if parsed:
                    ids.add_date(parsed)
            elif tag == "postcodenl":
                ids.add_postcode(value)
    return ids


def dump_database(url: str) -> str:
    """Every row of every table as text."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    metadata = MetaData()
    metadata.reflect(engine)
    lines = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                lines.append(f"{table.name}: {tuple(row)!r}")
    engine.dispose()
    return "\n".join(lines)


def scan(ids: Identifiers, files: Iterable[Path] = (), texts: dict[str, str] | None = None,
         exempt: Iterable[Path] = ()) -> list[Hit]:
    """Every (where, kind) at which an identifying value was found; never the value itself."""
    finder = ids.finder()
    exempt = {Path(p).resolve() for p in exempt}
    hits: list[Hit] = []
    blobs: list[tuple[str, bytes]] = [(name, text.encode("utf-8")) for name, text in (texts or {}).items()]
    for path in files:
        if path.resolve() in exempt or not path.is_file():
            continue
        decoded = _decoded(path)
        # a container is scanned in its decoded form: its compressed bytes are a mosaic of hex fragments in
        # which a short lowercase form ("6213ca") turns up by chance, while plaintext always shows decoded
        blobs.extend(decoded or [(str(path), path.read_bytes())])
    for where, blob in blobs:
        hits += [Hit(where, kind) for kind in sorted(finder.kinds(blob))]
    return hits


def _decoded(path: Path) -> list[tuple[str, bytes]]:
    """Compressed containers opened up, so plaintext cannot hide in a Parquet page or a zip member."""
    import zipfile

    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        text = table.to_pandas().to_csv(index=False) + repr(table.schema.metadata)
        return [(f"{path} (decoded)", text.encode("utf-8", "replace"))]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [(f"{path}:{name}", archive.read(name)) for name in archive.namelist()]
    if path.suffix == ".csv":
        return _base64_opened(path)
    return []


_BASE64 = re.compile(rb"^[A-Za-z0-9+/]{32,}={0,2}$")


def _base64_opened(path: Path) -> list[tuple[str, bytes]]:
    """A CSV with base64 fields (identities sealed to a recipient) scanned with those fields as the bytes they
    encode: base64 text is a mosaic of letters in which a five-letter name turns up by chance, while a
    plaintext value is never a run of 32+ base64 characters and is scanned as it stands."""
    import base64
    import binascii

    data = path.read_bytes()
    lines = data.split(b"\n")
    if not any(_BASE64.match(field) for line in lines[1:3] for field in line.split(b",")):
        return []
    out = []
    for line in lines:
        for field in line.split(b","):
            if _BASE64.match(field):
                try:
                    out.append(base64.b64decode(field, validate=True))
                    continue
                except binascii.Error:
                    pass
            out.append(field)
    return [(f"{path} (base64 opened)", b"\n".join(out))]


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in sorted(folder.rglob("*")) if p.is_file()]
