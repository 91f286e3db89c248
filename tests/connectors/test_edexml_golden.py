"""Pinned output: the pupils the EDEXML reader yields from the official example and the demo's po exports.

The digests were taken with the pure-Python reader (defusedxml over expat) before the move to libxml2
(lxml): the C parser must read every real export exactly as it did. Never update them to make a test pass.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from connectors import edexml

from .helpers import OFFICIAL_EXAMPLE

OFFICIAL = "36d7c60f0be5b9dfc14270d06be7f5f1a99a669cb6ab49452ae11628a162cabc"
# re-taken with the pure-Python reader of b5007b7 when the demo generator changed (the NCO source went)
DEMO = "5ed6baffd0b485b5d2cb8876a36559942be4b678374a9e3db5126b35daf91d07"


def digest(files: list[Path]) -> str:
    """SHA-256 over each file's school (BRIN, school year) and every pupil tuple, in order."""
    h = hashlib.sha256()
    for path in files:
        school = edexml.read_school(path)
        h.update(json.dumps([school.brin, school.school_year]).encode())
        for pupil in edexml.pupils(path):
            h.update(json.dumps(pupil).encode())
    return h.hexdigest()


@pytest.mark.skipif(not OFFICIAL_EXAMPLE.exists(), reason="official EDEXML example not in /work/shared/edexml")
def test_official_example_reads_as_before():
    assert digest([OFFICIAL_EXAMPLE]) == OFFICIAL


def test_demo_po_exports_read_as_before(tmp_path):
    from ttp.demo import generate_cohort

    generate_cohort(tmp_path, persons=300, seed=5)
    files = sorted((tmp_path / "po").glob("*.xml"))
    assert len(files) == 2
    assert digest(files) == DEMO
