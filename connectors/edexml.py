"""EDEXML 2.1 exports (one file per school), streamed pupil by pupil with entities and DTD tricks refused.

Parsed by libxml2 (lxml.etree.iterparse, a C parser) with entity substitution, DTD loading and network
access off and libxml2's size limits on (no huge_tree); a document whose DTD declares any entity or that
names an external DTD is refused when its root element starts, before any value is read (defusedxml's
forbid_entities and forbid_external did the same, apart from an unused external DTD, which they let pass).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lxml import etree

from .codes import EDEXML_SEX_CODES
from .errors import ConnectorError
from .export import Chunk, Export
from .filecheck import fingerprint, list_files
from .identifiers import check_brin, check_school_year
from .record import ATTR_PREFIX
from .validate import Rules, Validator

#: Pupil elements that are read, and the column each becomes. Everything else is dropped unread.
PUPIL_ELEMENTS: dict[str, str] = {
    "achternaam": "family_name",
    "voorvoegsel": "name_prefix",
    "voornamen": "given_names",
    "voorletters-1": "initials",
    "roepnaam": "preferred_name",
    "geboortedatum": "birth_date",
    "geslacht": "sex",
    "jaargroep": ATTR_PREFIX + "grade",
    "bsn": "bsn",
    "sofinummer": "bsn",
    "onderwijsnummer": "onderwijsnummer",
    "bsn_ondwnr-4": "bsn4",
    "gewicht": ATTR_PREFIX + "gewicht_oud",
    "gewicht_nieuw": ATTR_PREFIX + "gewicht",
    "postcodenl": "postcode",
    "instroomdatum": ATTR_PREFIX + "instroomdatum",
    "uitstroomdatum": ATTR_PREFIX + "uitstroomdatum",
}
#: Columns whose values the reader has stripped already (the validator need not strip them again).
STRIPPED = frozenset({*PUPIL_ELEMENTS.values(), "brin", "school_year"})
PAYLOAD = ("gewicht", "gewicht_oud", "instroomdatum", "uitstroomdatum")
# The pupil weight since 2019 (gewicht_nieuw: 0, 0,3, 1,2) is the attribute `gewicht`, written with a decimal
# point so tables group it the same way across sources; the old codes (0.00 .. 0.90) are kept as `gewicht_oud`.
WEIGHT_CODES = {"0": "0", "0,0": "0", "0.0": "0", "0,3": "0.3", "0.3": "0.3", "1,2": "1.2", "1.2": "1.2"}
_FLEMISH = ("instellingsnummer", "rijksregisternummer", "postnummerbe")
_CLOSED = re.compile(rb"</(?:\w+:)?EDEX\s*>\s*(?:<!--.*?-->\s*)*\Z", re.S)


@dataclass
class _School:
    path: Path
    brin: str
    school_year: str

    @property
    def export_file(self) -> str:
        return f"{self.brin}/{self.school_year}"


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


Element = Any  # an lxml element (lxml ships no type information)


class _Refused(Exception):
    """The document declares entities or names an external DTD."""


def _check_doctype(docinfo: Any) -> None:
    """Refuse any entity declaration (general or parameter, internal or external) and any external DTD.

    The external DTD is never loaded (load_dtd and network access off), but libxml2 then takes an entity it
    cannot see as possibly declared there and leaves the reference unexpanded instead of failing, which would
    silently empty a value: such a document is refused instead (EDEXML is defined by XSD and has no DOCTYPE).
    """
    if docinfo.system_url or docinfo.public_id:
        raise _Refused("ExternalReferenceForbidden")
    dtd = docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise _Refused("EntitiesForbidden")


def _events(
    path: Path, events: tuple[str, ...] = ("start", "end"), tags: tuple[str, ...] | None = None,
    block: int = 4096,
) -> Generator[tuple[str, Element], None, None]:
    """Parse events (of `tags` only, if given), reading `block` bytes at a time (small blocks for the header,
    large ones for the pupils), with entity declarations and external DTDs refused; every failure is one line."""
    if tags is not None:  # a filtered parse may see its first event late: check the DTD before all else
        prologue = _events(path)
        next(prologue, None)
        prologue.close()
    parser = etree.XMLPullParser(
        events=events, tag=tags, resolve_entities=False, load_dtd=False, no_network=True, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )
    checked = False
    try:
        with path.open("rb") as handle:
            while True:
                data = handle.read(block)
                failure = None
                try:
                    if data:
                        parser.feed(data)
                    else:
                        parser.close()
                except etree.XMLSyntaxError as exc:  # the events before the error come first, as they came
                    failure = exc
                for event, elem in parser.read_events():
                    if not checked:
                        _check_doctype(elem.getroottree().docinfo)
                        checked = True
                    yield event, elem
                if failure is not None:
                    raise failure
                if not data:
                    break
    except _Refused as exc:
        raise ConnectorError(
            f"{path.name}: refused: XML entity declarations and external references are not allowed ({exc})"
        ) from None
    except etree.XMLSyntaxError as exc:
        # the first error libxml2 logged in this parse is the cause (the exception may only say where it
        # stopped); errors raised before parsing began (an unknown encoding) are only in the exception's log
        errors = [e for e in parser.error_log if e.level >= etree.ErrorLevels.ERROR] or list(exc.error_log)[-1:]
        first = errors[0] if errors else None
        if any(e.type == etree.ErrorTypes.ERR_UNSUPPORTED_ENCODING for e in errors):
            raise ConnectorError(f"{path.name}: cannot be parsed as XML (unknown encoding declared)") from None
        line, column = (first.line, first.column) if first is not None else exc.position
        raise ConnectorError(f"{path.name}: not well-formed XML (line {line}, column {column})") from None
    except (LookupError, ValueError, UnicodeError, OSError, etree.LxmlError) as exc:
        raise ConnectorError(f"{path.name}: cannot be parsed as XML ({type(exc).__name__})") from None


def _flemish(path: Path, element: str) -> ConnectorError:
    return ConnectorError(f"{path.name}: Flemish EDEXML ({element}) is not supported; only Dutch EDEXML 2.1")


def read_school(path: Path) -> _School:
    """Read the school header (stops after </school>) and check that the file is complete."""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 4096))
        if not _CLOSED.search(handle.read()):
            raise ConnectorError(f"{path.name}: truncated or not EDEXML (no closing </EDEX> at the end)")
    header: dict[str, str] = {}
    depth = 0
    for event, elem in _events(path):
        tag = _local(elem.tag)
        if event == "start":
            depth += 1
            if depth == 1 and tag != "EDEX":
                raise ConnectorError(f"{path.name}: not an EDEXML file (root element {tag!r})")
            continue
        depth -= 1
        if depth == 2:
            header[tag] = (elem.text or "").strip()
        elif depth == 1:
            if tag != "school":
                raise ConnectorError(f"{path.name}: no <school> header before <{tag}>")
            break
    else:
        raise ConnectorError(f"{path.name}: no <school> header")
    if "instellingsnummer" in header:
        raise _flemish(path, "instellingsnummer")
    school_year, reason = check_school_year(header.get("schooljaar", ""))
    if reason:
        raise ConnectorError(f"{path.name}: school header: schooljaar missing or malformed")
    if not header.get("brincode"):
        raise ConnectorError(f"{path.name}: school header: no brincode")
    dependance = header.get("dependancecode") or "00"
    brin, reason = check_brin(header["brincode"] + dependance)
    if reason or len(dependance) != 2:
        raise ConnectorError(f"{path.name}: school header: brincode or dependancecode malformed")
    assert brin is not None and school_year is not None  # a check gives its value whenever it gives no reason
    return _School(path, brin, school_year)


#: Slots of a pupil tuple: the key, each kept element, and the grade of the pupil's group.
SLOTS: tuple[str, ...] = ("key", *PUPIL_ELEMENTS, "groep.jaargroep")
_SLOT = {name: i for i, name in enumerate(SLOTS)}
_GROUP_SLOT = _SLOT["groep.jaargroep"]


_GROUP = -1
_FLEMISH_ELEMENT = -2
#: The slot of each child tag seen so far (namespaced or not), `_GROUP`, `_FLEMISH_ELEMENT`, or None.
_TAG_SLOTS: dict[object, int | None] = {}
_TAG_CACHE_SIZE = 1024


def _child_slot(tag: object) -> int | None:
    local = _local(tag)
    if local in PUPIL_ELEMENTS:
        return _SLOT[local]
    if local == "groep":
        return _GROUP
    return _FLEMISH_ELEMENT if local in _FLEMISH else None


def _pupil(elem: Element, groups: dict[str, str], path: Path) -> tuple[str | None, ...]:
    """The kept values of one <leerling> as a tuple over ``SLOTS`` (compact: a chunk holds many)."""
    values: list[str | None] = [None] * len(SLOTS)
    values[0] = elem.get("key") or ""
    slots = _TAG_SLOTS
    for child in elem:
        tag = child.tag
        try:
            slot = slots[tag]
        except KeyError:
            slot = _child_slot(tag)
            if len(slots) < _TAG_CACHE_SIZE:  # bounded: a hostile file may use any number of tags
                slots[tag] = slot
        if slot is None:
            continue
        if slot > 0:
            values[slot] = (child.text or "").strip()
        elif slot == _GROUP:
            values[_GROUP_SLOT] = groups.get(child.get("key") or "")
        else:
            raise _flemish(path, _local(tag))
    return tuple(values)


def raw_values(pupil: tuple[str | None, ...]) -> dict[str, str]:
    """A pupil tuple as the raw values of a quarantined row, by element name."""
    return {name: value for name, value in zip(SLOTS, pupil, strict=True) if value is not None}


#: The elements pupils() is told about: pupils and groups, and the other repeated items, to clear them.
_ITEMS = ("{*}leerling", "{*}groep", "{*}samengestelde_groep", "{*}leerkracht", "{*}vestiging")


def pupils(path: Path) -> Iterator[tuple[str | None, ...]]:
    """Yield each pupil's kept values; items are cleared as soon as they are read (flat memory).

    Only a <leerling> in the <leerlingen> section (a child of the root) is a pupil, and only a <groep> in
    <groepen> a group; the same element names elsewhere (a pupil's own <groep key=...>) are left alone.
    """
    groups: dict[str, str] = {}
    for _, elem in _events(path, ("end",), _ITEMS, block=1 << 16):
        section = elem.getparent()
        root = None if section is None else section.getparent()
        if root is None or root.getparent() is not None:
            continue
        tag, section_name = _local(elem.tag), _local(section.tag)
        if section_name == "leerlingen" and tag == "leerling":
            yield _pupil(elem, groups, path)
        elif section_name == "groepen" and tag == "groep":
            for child in elem:
                if _local(child.tag) == "jaargroep":
                    groups[elem.get("key") or ""] = (child.text or "").strip()
        elem.clear()
        while elem.getprevious() is not None:  # whatever else the section held before this item
            del section[0]
        section.remove(elem)
        while section.getprevious() is not None:  # earlier sections, read completely
            del root[0]


def _frame_columns(raws: list[tuple], schools: list[_School], numbers: list[int]) -> dict[str, object]:
    slots = dict(zip(SLOTS, zip(*raws, strict=True), strict=True))
    data: dict[str, object] = {
        "export_file": [s.export_file for s in schools],
        "row_number": numbers,
        "record_key": slots["key"],
        "brin": [s.brin for s in schools],
        "school_year": [s.school_year for s in schools],
    }
    for element, column in PUPIL_ELEMENTS.items():
        if element not in ("sofinummer", "jaargroep"):
            data[column] = slots[element]
    data["bsn"] = [b or s for b, s in zip(slots["bsn"], slots["sofinummer"], strict=True)]
    data[ATTR_PREFIX + "grade"] = [
        j or g for j, g in zip(slots["jaargroep"], slots["groep.jaargroep"], strict=True)
    ]
    return data


def open_edexml(paths: list[Path], sector: str = "po") -> Export:
    """Check every file's header and completeness up front; ``chunks()`` streams the pupils."""
    files = list_files(paths, (".xml",))
    fingerprints = [fingerprint(path)[0] for path in files]
    schools = [read_school(path) for path in files]
    rules = Rules(
        sector=sector,
        date_format="%Y-%m-%d",
        sex_codes=EDEXML_SEX_CODES,
        attribute_tables={name: WEIGHT_CODES if name == "gewicht" else None for name in PAYLOAD},
        keys_per_school=True,
    )
    years = {s.school_year for s in schools}

    def read(rows: int) -> Iterator[Chunk]:
        validator = Validator(rules)
        raws: list[tuple] = []
        owners: list[_School] = []
        numbers: list[int] = []

        def flush() -> Chunk:
            kept = list(raws)
            chunk = validator.validate_columns(_frame_columns(raws, owners, numbers), len(kept),
                                               lambda i: raw_values(kept[i]), STRIPPED)
            raws.clear()
            owners.clear()
            numbers.clear()
            return chunk

        for school in schools:
            for number, pupil in enumerate(pupils(school.path), start=1):
                raws.append(pupil)
                owners.append(school)
                numbers.append(number)
                if len(raws) >= rows:
                    yield flush()
        if raws:
            yield flush()

    return Export(
        sector=sector,
        files=fingerprints,
        school_year=years.pop() if len(years) == 1 else None,
        link_kinds={},
        attach_to=None,
        _read=read,
    )
