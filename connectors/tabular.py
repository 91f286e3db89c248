"""CSV and XLSX exports read through a profile, streamed in chunks of rows."""

from __future__ import annotations

import csv
import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import limits
from .codes import DEFAULT_SEX_CODES, code_table
from .errors import ConnectorError
from .export import Chunk, Export
from .filecheck import fingerprint, list_files
from .identifiers import check_school_year
from .profile import Profile
from .record import ATTR_PREFIX, LINK_PREFIX
from .validate import Rules, Validator

_DELIMITERS = (";", ",", "\t", "|")
_HEADER_BYTES = 1 << 16
_PARSER_REASON = re.compile(
    r"C error: (Expected \d+ fields in line \d+, saw \d+|EOF inside string starting at row \d+)"
)


@dataclass
class _Plan:
    path: Path
    encoding: str | None
    delimiter: str
    header: list[str]
    columns: dict[str, str]  # profile key -> actual header name


def rules_for(profile: Profile, school_year: str | None) -> Rules:
    """The validator's rules for a profile (``school_year`` fills rows without one)."""
    sex = DEFAULT_SEX_CODES
    if profile.sex_codes:
        sex = {k.strip().casefold(): v for k, v in profile.sex_codes.items()}
    return Rules(
        sector=profile.sector,
        date_format=profile.date_format,
        sex_codes=sex,
        link_kinds={name: lf.kind for name, lf in profile.link_fields.items()},
        attribute_tables={
            a: code_table(a, profile.attribute_codes.get(a), profile.list_of(a)) for a in profile.attributes
        },
        school_year=profile.school_year or school_year,
        attach=profile.attach_to is not None,
        keys_per_school=profile.attach_to is not None,
        earliest_birth_date=profile.earliest_birth_date,
        latest_birth_date=profile.latest_birth_date,
    )


def open_tabular(paths: list[Path], profile: Profile, school_year: str | None = None) -> Export:
    """Check every file against the profile (encoding, header) before any row is read."""
    xlsx = profile.format == "xlsx"
    files = list_files(paths, (".xlsx",) if xlsx else (".csv", ".txt", ".tsv"))
    plans, fingerprints = [], []
    for path in files:
        if xlsx:
            record, encoding = fingerprint(path, binary_ok=True)
            limits.check_xlsx_unpacked(path)
            header, delimiter = _xlsx_header(path, profile.sheet), ""
        else:
            record, encoding = fingerprint(path, profile.encoding)
            header, delimiter = _csv_header(path, encoding, profile.delimiter)
        fingerprints.append(record)
        matched = _match_header(path.name, header, profile, delimiter)
        plans.append(_Plan(path, encoding, delimiter, _unique(header), matched))
    if school_year is not None:
        school_year, reason = check_school_year(school_year)
        if reason:
            raise ConnectorError("school_year argument: must look like 2024-2025")
    rules = rules_for(profile, school_year)

    def read(rows: int) -> Iterator[Chunk]:
        validator = Validator(rules)
        for plan in plans:
            frames = _xlsx_frames(plan, profile, rows) if xlsx else _csv_frames(plan, rows)
            first = 1
            for raw in frames:
                yield validator.validate(_mapped(raw, plan, profile, first), _raw_rows(raw))
                first += len(raw)

    return Export(
        sector=profile.sector,
        files=fingerprints,
        school_year=rules.school_year,
        link_kinds=dict(rules.link_kinds),
        attach_to=profile.attach_to,
        _read=read,
    )


def _csv_header(path: Path, encoding: str | None, delimiter: str) -> tuple[list[str], str]:
    with path.open("r", encoding=encoding, newline="") as handle:
        head = handle.read(_HEADER_BYTES)
    first_line = head.splitlines()[0] if head.strip() else ""
    if not first_line.strip():
        raise ConnectorError(f"{path.name}: no header on the first line")
    if delimiter == "auto":
        delimiter = max(_DELIMITERS, key=first_line.count)
    try:
        header = next(csv.reader([first_line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        raise ConnectorError(f"{path.name}: the header line cannot be parsed") from None
    return header, delimiter


def _xlsx_header(path: Path, sheet: str | None) -> list[str]:
    with _workbook(path) as rows:
        try:
            first = next(_workbook_rows(rows, sheet, path))
        except StopIteration:
            raise ConnectorError(f"{path.name}: the sheet is empty") from None
    return ["" if v is None else str(v) for v in first]


def _unique(header: list[str]) -> list[str]:
    """Header names made unique ('A', 'A.1') the way pandas would, so every column keeps its raw value."""
    seen: dict[str, int] = {}
    names = []
    for column in header:
        count = seen.get(column, 0)
        seen[column] = count + 1
        names.append(column if count == 0 else f"{column}.{count}")
    return names


def _match_header(name: str, header: list[str], profile: Profile, delimiter: str) -> dict[str, str]:
    """Map each profile key to the header name it refers to (ignoring surrounding spaces)."""
    by_name: dict[str, list[str]] = {}
    for column in header:
        by_name.setdefault(column.strip(), []).append(column)
    missing, twice, matched = [], [], {}
    for key, wanted in profile.columns().items():
        found = by_name.get(wanted.strip(), [])
        if not found:
            missing.append(f"{key} ({wanted!r})")
        elif len(found) > 1:
            twice.append(f"{key} ({wanted!r})")
        else:
            matched[key] = found[0]
    if missing:
        hint = f"; delimiter {delimiter!r}" if delimiter and len(header) == 1 else ""
        raise ConnectorError(
            f"{name}: profile names columns the header lacks: {', '.join(missing)}"
            f" ({len(header)} columns in header{hint})"
        )
    if twice:
        raise ConnectorError(f"{name}: profile columns appear twice in the header: {', '.join(twice)}")
    return matched


def _csv_frames(plan: _Plan, rows: int) -> Iterator[pd.DataFrame]:
    try:
        reader = pd.read_csv(
            plan.path,
            sep=plan.delimiter,
            encoding=plan.encoding,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            chunksize=rows,
            engine="c",
            header=0,
            names=plan.header,
            index_col=False,
            skip_blank_lines=True,
        )
        with reader:
            read = 0
            while True:
                with warnings.catch_warnings():
                    # pandas only warns when a data row is longer than the header; that loses data
                    warnings.simplefilter("error", pd.errors.ParserWarning)
                    frame = next(reader, None)
                if frame is None:
                    return
                limits.check_rows(plan.path, read + len(frame))
                _check_fields(plan.path, frame, read + 1)
                read += len(frame)
                yield frame
    except pd.errors.ParserWarning:
        raise ConnectorError(f"{plan.path.name}: malformed CSV: a row has more fields than the header") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, UnicodeError, OverflowError) as exc:
        raise ConnectorError(f"{plan.path.name}: malformed CSV: {_parser_reason(exc)}") from None


def _check_fields(path: Path, frame: pd.DataFrame, first_row: int) -> None:
    """Refuse a chunk with a field longer than the limit, naming the first such row."""
    for column in frame.columns:
        lengths = frame[column].str.len()
        if len(lengths) and lengths.max() > limits.LIMITS.field_chars:
            position = int(lengths.to_numpy().argmax())
            limits.check_field(path, first_row + position, int(lengths.iloc[position]))


def _parser_reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = _PARSER_REASON.search(text)
    if match:
        return match.group(1)
    return type(exc).__name__


def _mapped(raw: pd.DataFrame, plan: _Plan, profile: Profile, first_row: int) -> pd.DataFrame:
    n = len(raw)
    data: dict[str, object] = {
        "export_file": [plan.path.name] * n,
        "row_number": range(first_row, first_row + n),
    }
    columns = plan.columns
    for field in profile.fields:
        data[field] = raw[columns[f"fields.{field}"]].to_numpy(dtype=object)
    for name in profile.link_fields:
        data[LINK_PREFIX + name] = raw[columns[f"link_fields.{name}"]].to_numpy(dtype=object)
    for name in profile.attributes:
        data[ATTR_PREFIX + name] = raw[columns[f"attributes.{name}"]].to_numpy(dtype=object)
    return pd.DataFrame(data)


def _raw_rows(raw: pd.DataFrame) -> Callable[[int], dict[str, str]]:
    names = [str(c) for c in raw.columns]

    def row(i: int) -> dict[str, str]:
        return {k: ("" if pd.isna(v) else str(v)) for k, v in zip(names, raw.iloc[i].tolist(), strict=True)}

    return row


class _workbook:
    """Open a workbook read-only; every failure of a damaged file becomes one ConnectorError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):  # noqa: ANN204
        import openpyxl

        try:
            self.book = openpyxl.load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many types for damaged files
            reason = type(exc).__name__
            raise ConnectorError(f"{self.path.name}: not a readable XLSX workbook ({reason})") from None
        return self.book

    def __exit__(self, *exc: object) -> None:
        self.book.close()


def _workbook_rows(book, sheet: str | None, path: Path) -> Iterator[tuple]:  # noqa: ANN001
    if sheet is not None and sheet not in book.sheetnames:
        raise ConnectorError(f"{path.name}: profile key sheet: no sheet {sheet!r} in the workbook")
    worksheet = book[sheet] if sheet is not None else book.worksheets[0]
    try:
        yield from worksheet.iter_rows(values_only=True)
    except ConnectorError:
        raise
    except Exception as exc:
        raise ConnectorError(f"{path.name}: damaged worksheet ({type(exc).__name__})") from None


def _cell(value: object, date_format: str) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime(date_format)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _xlsx_frames(plan: _Plan, profile: Profile, rows: int) -> Iterator[pd.DataFrame]:
    width = len(plan.header)
    with _workbook(plan.path) as book:
        source = _workbook_rows(book, profile.sheet, plan.path)
        next(source, None)
        batch: list[list[str]] = []
        most = limits.LIMITS.field_chars
        for row_number, values in enumerate(source, start=1):
            limits.check_rows(plan.path, row_number, xlsx=True)
            cells = [_cell(v, profile.date_format) for v in values[:width]]
            longest = max(map(len, cells), default=0)
            if longest > most:
                limits.check_field(plan.path, row_number, longest)
            if not any(c.strip() for c in cells):
                continue
            batch.append(cells + [""] * (width - len(cells)))
            if len(batch) >= rows:
                yield pd.DataFrame(batch, columns=plan.header, dtype=object)
                batch = []
        if batch:
            yield pd.DataFrame(batch, columns=plan.header, dtype=object)
