"""Canonical code lists for payload attributes and sex, and the mapping of a source's codes onto them."""

from __future__ import annotations

#: Level in secondary education (vo).
VO_LEVEL: tuple[str, ...] = ("vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo")
#: Level in vocational education (mbo), niveau 1 to 4.
MBO_LEVEL: tuple[str, ...] = ("1", "2", "3", "4")
#: School advice at the end of primary school: the vo levels, their usual combinations and pro.
SCHOOL_ADVICE: tuple[str, ...] = (
    "praktijkonderwijs",
    "vmbo-b",
    "vmbo-b/vmbo-k",
    "vmbo-k",
    "vmbo-k/vmbo-gt",
    "vmbo-gt",
    "vmbo-gt/havo",
    "havo",
    "havo/vwo",
    "vwo",
)

#: Attribute name -> canonical list. An attribute with one of these names is always mapped onto its list.
CODE_LISTS: dict[str, tuple[str, ...]] = {
    "vo_level": VO_LEVEL,
    "mbo_level": MBO_LEVEL,
    "school_advice": SCHOOL_ADVICE,
}

#: Sex codes understood when a profile has no [sex_codes] table (case-insensitive); "" means unknown.
DEFAULT_SEX_CODES: dict[str, str] = {
    "m": "M", "man": "M", "mannelijk": "M", "jongen": "M", "male": "M", "j": "M",
    "v": "F", "f": "F", "vrouw": "F", "vrouwelijk": "F", "meisje": "F", "female": "F",
    "x": "X", "o": "X", "overig": "X", "9": "X",
    "1": "M", "2": "F", "0": "", "onbekend": "",
}
#: EDEXML geslacht (NEN-ISO 5218): 0 unknown, 1 male, 2 female, 9 not specified.
EDEXML_SEX_CODES: dict[str, str] = {"0": "", "1": "M", "2": "F", "9": "X"}


def code_table(
    name: str, source_codes: dict[str, str] | None, list_name: str | None = None
) -> dict[str, str] | None:
    """The lookup (casefolded source value -> canonical value) for attribute ``name``, or None if free text.

    The canonical list is ``list_name`` or, by default, the one named like the attribute. A canonical list
    maps its own values onto themselves, so a source that already uses them needs no table.
    """
    table: dict[str, str] = {}
    list_name = list_name or name
    if list_name in CODE_LISTS:
        table.update({code.casefold(): code for code in CODE_LISTS[list_name]})
    elif not source_codes:
        return None
    for source, target in (source_codes or {}).items():
        table[source.strip().casefold()] = target
    return table
