"""A regional monitor's release history at full size, for bench/release.py --history.

300 primary schools of realistic size (groep 8 about 25 pupils, log-normal), 60 boards, 30 municipalities,
five school years, ten advice categories, six levels in secondary school correlated with the advice; and
25 school-level requests a monitor makes over a few years (per school year: school x advice, school x
level with % havo/vwo, board x advice x level, municipality x level with % havo/vwo, school x sex with
% havo/vwo)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from policies.policy import Policy, load_policy
from policies.request import Request

ADVICE = ["pro", "vmbo-b", "vmbo-b/k", "vmbo-k", "vmbo-gt", "vmbo-gt/havo", "havo", "havo/vwo", "vwo", "vso"]
LEVELS = ["pro", "vmbo-b", "vmbo-k", "vmbo-gt", "havo", "vwo"]
YEARS = ["2019-2020", "2020-2021", "2021-2022", "2022-2023", "2023-2024"]
# the level each advice most often leads to (index into LEVELS), and how far pupils stray from it
ADVICE_LEVEL = [0, 1, 1, 2, 3, 3, 4, 4, 5, 0]

POLICY = f"""
name = "region"
populations = [["po", "vo"]]
[dimensions.school]
column = "po.brin"
[dimensions.board]
column = "po.bestuur"
[dimensions.municipality]
column = "po.gemeente"
[dimensions.school_year]
column = "po.school_year"
categories = {YEARS!r}
[dimensions.sex]
column = "po.sex"
categories = ["M", "F"]
[dimensions.advice]
column = "po.advies"
categories = {ADVICE!r}
[dimensions.vo_level]
column = "vo.niveau"
categories = {LEVELS!r}
[measures.pupils]
kind = "count"
[measures.havo_vwo]
kind = "share"
condition = "vo.niveau in [havo, vwo]"
[disclosure]
min_cell_count = 10
protection_level = 10
max_cells = 50000
max_dimensions = 3
differencing = "suppress"
"""


def region(schools: int = 300, per_year: float = 25.0, seed: int = 0) -> pd.DataFrame:
    """Pupils of groep 8 over five school years, followed into secondary school."""
    rng = np.random.default_rng(seed)
    size = np.maximum(rng.lognormal(np.log(per_year), 0.45, (schools, len(YEARS))).round().astype(int), 3)
    school_of = np.repeat(np.repeat(np.arange(schools), len(YEARS)), size.ravel())
    year_of = np.repeat(np.tile(np.arange(len(YEARS)), schools), size.ravel())
    n = len(school_of)
    brin = np.array([f"{i // 26 % 100:02d}{chr(65 + i % 26)}{chr(65 + i // 260 % 26)}00" for i in range(schools)])
    board = rng.integers(0, schools // 5, schools)
    municipality = rng.integers(0, max(schools // 10, 1), schools)
    school_level = rng.normal(0, 0.6, schools)  # some schools advise higher than others
    advice_p = np.array([0.03, 0.08, 0.05, 0.1, 0.14, 0.1, 0.15, 0.1, 0.22, 0.03])
    advice = rng.choice(len(ADVICE), n, p=advice_p)
    base = np.array(ADVICE_LEVEL)[advice] + rng.normal(school_level[school_of] * 0.3, 0.6, n)
    level = np.clip(np.round(base), 0, len(LEVELS) - 1).astype(int)
    return pd.DataFrame({
        "person_id": np.char.add("p", np.arange(n).astype(str)),
        "in_po": True, "in_vo": True,
        "po.brin": brin[school_of], "po.bestuur": np.char.add("B", board[school_of].astype(str)),
        "po.gemeente": np.char.add("G", municipality[school_of].astype(str)),
        "po.school_year": np.array(YEARS)[year_of], "po.sex": np.array(["M", "F"])[rng.integers(0, 2, n)],
        "po.advies": np.array(ADVICE)[advice], "vo.niveau": np.array(LEVELS)[level],
    }).astype(object)


def policy() -> Policy:
    return load_policy(POLICY, "region")


def requests() -> list[Request]:
    """The 25 earlier requests of the history, in the order they were released."""
    out = []
    for year in YEARS:
        def ask(dims: list[str], measures: list[str], y: str = year) -> Request:
            return Request(policy="region", purpose="benchmark", population=["po", "vo"], dimensions=dims,
                           measures=measures, filters={"school_year": [y]})
        out += [ask(["school", "advice"], ["pupils"]),
                ask(["school", "vo_level"], ["pupils", "havo_vwo"]),
                ask(["board", "advice", "vo_level"], ["pupils"]),
                ask(["municipality", "vo_level"], ["pupils", "havo_vwo"]),
                ask(["school", "sex"], ["pupils", "havo_vwo"])]
    return out


def last_request() -> Request:
    """The request checked against all 25: % havo/vwo per school, advice and school year (the largest cover:
    300 schools x 10 advice x 6 levels x 5 school years)."""
    return Request(policy="region", purpose="benchmark", population=["po", "vo"],
                   dimensions=["school", "advice", "school_year"], measures=["pupils", "havo_vwo"])
