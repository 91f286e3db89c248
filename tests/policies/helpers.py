"""Shared builders for the policies tests: a small policy and random persons frames."""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies.policy import Policy, load_policy
from policies.request import Request

POLICY = """
name = "test"
populations = [["po"], ["po", "vo"]]

[dimensions.school]
column = "po.brin"
[dimensions.year]
column = "po.school_year"
[dimensions.level]
column = "vo.niveau"
categories = ["vmbo", "havo", "vwo"]
[dimensions.band]
column = "po.toets_score"
bands = [500, 525, 551]
[dimensions.gemeente]
column = "po.gemeente"

[measures.pupils]
kind = "count"
[measures.havo_vwo]
kind = "share"
condition = "vo.niveau in [havo, vwo]"
[measures.score]
kind = "mean"
column = "po.toets_score"
[measures.score_median]
kind = "median"
column = "po.toets_score"

[disclosure]
min_cell_count = 10
protection_level = 10
"""


def policy(**disclosure: object) -> Policy:
    """The test policy with some disclosure settings replaced."""
    base = load_policy(POLICY, "test")
    return base.model_copy(update={"disclosure": base.disclosure.model_copy(update=disclosure)})


def persons(n: int, schools: int = 6, seed: int = 0, skew: float = 1.0) -> pd.DataFrame:
    """A random persons frame; `skew` > 1 makes some schools small."""
    rng = np.random.default_rng(seed)
    weights = np.arange(1, schools + 1, dtype=float) ** skew
    brin = rng.choice([f"{i:02d}XY00" for i in range(schools)], n, p=weights / weights.sum())
    return pd.DataFrame({
        "person_id": [f"p{i}" for i in range(n)],
        "in_po": True,
        "in_vo": rng.random(n) < 0.85,
        "po.brin": brin,
        "po.gemeente": np.where(np.char.startswith(brin.astype(str), "00"), "A", "B"),
        "po.school_year": rng.choice(["2021-2022", "2022-2023"], n),
        "vo.niveau": rng.choice(["vmbo", "havo", "vwo"], n),
        "po.toets_score": rng.integers(501, 551, n).astype(str),
    })


def request(dimensions: list[str], measures: list[str] | None = None, **extra: object) -> Request:
    return Request(policy="test", purpose="test", population=extra.pop("population", ["po"]),  # type: ignore[arg-type]
                   dimensions=dimensions, measures=measures or ["pupils"], **extra)


def pdf_words(pdf: bytes) -> str:
    """The text of every page of a PDF, as a reader's copy and paste would give it."""
    import io

    from pypdf import PdfReader

    return "\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(pdf)).pages)
