"""Profiles: the shipped examples load; bad profiles are refused naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

import connectors
from connectors import ConnectorError, load_profile, parse_profile
from connectors.codes import CODE_LISTS

from .helpers import VVE_PROFILE

SHIPPED = sorted((Path(connectors.__file__).parent / "profiles").glob("*.toml"))


def test_example_profiles_are_shipped():
    names = {p.stem for p in SHIPPED}
    assert {"magister", "somtoday", "eduarte", "vve-registratie"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_shipped_profile_loads_and_maps_onto_canonical_lists(path):
    profile = load_profile(path)
    for name, table in profile.attribute_codes.items():
        if name in CODE_LISTS:
            assert set(table.values()) <= set(CODE_LISTS[name])


@pytest.mark.parametrize(
    "change, key",
    [
        (('record_key = "KindID"', ""), "fields"),
        (('sector = "vve"', 'sector = "hbo"'), "sector"),
        (('family_name = "Achternaam"', 'surname = "Achternaam"'), "fields"),
        (('encoding = "cp1252"', 'encoding = "utf-16"'), "encoding"),
        (('date_format = "%d-%m-%Y"', 'date_format = "dd-mm-yyyy"'), "date_format"),
        (('delimiter = ";"', 'delimiter = ";;"'), "delimiter"),
        (("[attributes]", "[attributes]\nsex = 'Geslacht'"), "attributes"),
        (("[attributes]", 'colour = "blue"\n[attributes]'), "colour"),
        (("vve_indicatie = ", "vo_level = \"X\"\n[attribute_codes.vo_level]\nA = 'vmbo-x'\n#"), "vo_level"),
        (('sector = "vve"', 'sector = "vve"\nattach_to = "po"'), "attach_to needs fields.brin"),
        (('format = "csv"', 'format = "csv'), "not valid TOML"),
    ],
)
def test_bad_profile_is_refused_naming_the_key(change, key):
    old, new = change
    assert old in VVE_PROFILE
    with pytest.raises(ConnectorError, match="vve.toml") as info:
        parse_profile(VVE_PROFILE.replace(old, new, 1), "vve.toml")
    assert key in str(info.value)


def test_unreadable_profile_file(tmp_path):
    with pytest.raises(ConnectorError, match="cannot read profile"):
        load_profile(tmp_path / "missing.toml")
