"""Settings of a link job: blocking passes, comparison bands, model priors and decision thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from linkage.arrays import BLOOM_COLUMNS, HASH_COLUMNS
from linkage.parallel import default_threads

#: Comparisons whose exact agreement can be weighted by the agreeing value's frequency.
TF_COMPARISONS = ("family_name", "given_name")


def _hash_key(name: str) -> str:
    if name in HASH_COLUMNS or (name.startswith("link_") and not name.endswith("_bf") and len(name) > 5):
        return name
    raise ValueError(f"unknown keyed feature {name!r} (known: {', '.join(HASH_COLUMNS)}, or link_<link field>)")


def _bloom_key(name: str) -> str:
    if name in BLOOM_COLUMNS or (name.startswith("link_") and name.endswith("_bf") and len(name) > 8):
        return name
    raise ValueError(f"unknown Bloom filter {name!r} (known: {', '.join(BLOOM_COLUMNS)}, or link_<field>_bf)")


class BlockingPass(BaseModel):
    """One blocking pass: records agreeing on all `keys` become candidate pairs.

    `cross` joins the left record's `cross[0]` column to the right record's `cross[1]` column
    (e.g. the day/month-swapped date to the date). `lsh` keys are Bloom-filter bands of that column.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1)
    keys: tuple[str, ...] = ()
    cross: tuple[str, str] | None = None
    lsh: str | None = None
    max_block_size: int | None = Field(None, ge=2, description="this pass's block cap; None = the global one")

    @field_validator("keys")
    @classmethod
    def _keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            _hash_key(name)
        if len(set(value)) < len(value):
            raise ValueError("a key is named twice")
        return value

    @field_validator("cross")
    @classmethod
    def _cross(cls, value: tuple[str, str] | None) -> tuple[str, str] | None:
        if value is not None:
            for name in value:
                _hash_key(name)
        return value

    @field_validator("lsh")
    @classmethod
    def _lsh(cls, value: str | None) -> str | None:
        return None if value is None else _bloom_key(value)

    @model_validator(mode="after")
    def _something(self) -> BlockingPass:
        if not self.keys and self.cross is None and self.lsh is None:
            raise ValueError("a pass needs keys, cross or lsh")
        if self.cross is not None and self.lsh is not None:
            raise ValueError("a pass has cross or lsh, not both")
        return self

    def features(self) -> list[str]:
        """The feature columns the pass reads."""
        return [*self.keys, *(self.cross or ()), *([self.lsh] if self.lsh else [])]


DEFAULT_PASSES: tuple[BlockingPass, ...] = (
    BlockingPass(name="bsn", keys=("bsn",)),
    BlockingPass(name="onderwijsnummer", keys=("onr",)),
    BlockingPass(name="birth_date+family_name", keys=("dob", "fam")),
    BlockingPass(name="birth_date+first_name", keys=("dob", "given1")),
    BlockingPass(name="birth_date+roepnaam", keys=("dob", "pref")),
    BlockingPass(name="birth_date+postcode_area", keys=("dob", "pc4")),
    BlockingPass(name="birth_date_swapped+family_name", keys=("fam",), cross=("dob_swap", "dob")),
    BlockingPass(name="birth_date_swapped+postcode_area", keys=("pc4",), cross=("dob_swap", "dob")),
    BlockingPass(name="year_month+family_name+initial", keys=("dob_ym", "fam", "init")),
    BlockingPass(name="year_day+family_name+initial", keys=("dob_yd", "fam", "init")),
    BlockingPass(name="month_day+family_name+initial", keys=("dob_md", "fam", "init")),
    # surname typos: LSH bands with the first name or roepnaam (an initial alone grows quadratically)
    BlockingPass(name="family_name_band+year_month+first_name", keys=("dob_ym", "given1"), lsh="fam_bf"),
    BlockingPass(name="family_name_band+year_month+roepnaam", keys=("dob_ym", "pref"), lsh="fam_bf"),
    BlockingPass(name="first_name+family_name+postcode_area", keys=("given1", "fam", "pc4")),
    BlockingPass(name="postcode+initial", keys=("pc", "init")),
)


class LinkSettings(BaseModel):
    """Everything a link job can be tuned by; the defaults are the documented model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    passes: tuple[BlockingPass, ...] = Field(DEFAULT_PASSES, min_length=1)
    max_block_size: int = Field(300, ge=2, description="blocks with more records are skipped and reported")
    max_number_group: int = Field(50, ge=2, description="a number shared by more records is ignored")
    representatives_per_person: int = Field(
        1, ge=1, description="a record without a number meets this many of a numbered person's records per block")
    lsh_bands: int = Field(6, ge=1)
    lsh_band_bits: int = Field(20, ge=4, le=62)
    dice_bands: tuple[float, ...] = (0.85, 0.7, 0.6, 0.5)
    u_sample_pairs: int = Field(1_000_000, ge=1000)
    em_max_iter: int = Field(200, ge=1)
    em_tolerance: float = Field(1e-7, gt=0)
    # m of a number disagreement: two different valid BSNs are almost never one child.
    number_disagree_m: float = Field(0.0005, gt=0, lt=1)
    bsn4_disagree_m: float = Field(0.002, gt=0, lt=1)
    tf_adjust: tuple[str, ...] = ("family_name", "given_name")
    link_threshold: float | None = Field(None, description="match probability to link; None = from the model")
    review_threshold: float | None = Field(None, description="probability from which a pair is reviewed")
    min_link_threshold: float = 0.5
    # twins share surname, birth date and address: a pair whose given names disagree while surname and
    # birth date agree is never linked on probability alone (it goes to review), whatever the address adds
    given_name_disagreement_reviews: bool = True
    contradiction_weight: float = Field(-8.0, description="deterministic pairs weighing less go to review")
    within_file_pairs: bool = Field(True, description="also pair records of one export file (duplicates)")
    within_file_probability: float = Field(0.999, description="a link inside one export file needs this")
    chunk_pairs: int = Field(250_000, ge=1000)
    threads: int = Field(default_factory=default_threads, ge=1,
                         description="threads for blocking passes and comparisons; results do not depend on it")
    seed: int = 20240601

    @field_validator("passes")
    @classmethod
    def _passes(cls, value: tuple[BlockingPass, ...]) -> tuple[BlockingPass, ...]:
        names = [p.name for p in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two passes are named {twice[0]!r}")
        return value

    @field_validator("dice_bands")
    @classmethod
    def _bands(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(not 0 < b <= 1 for b in value) or len(set(value)) < len(value):
            raise ValueError("needs one or more distinct Dice values above 0 and at most 1")
        return value

    @field_validator("tf_adjust")
    @classmethod
    def _tf(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in TF_COMPARISONS:
                raise ValueError(f"{name!r} has no term-frequency adjustment (it has: {', '.join(TF_COMPARISONS)})")
        return value

    @field_validator("link_threshold", "review_threshold")
    @classmethod
    def _probability(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < 1:
            raise ValueError("must be a probability between 0 and 1, or \"model\"")
        return value


def missing_features(settings: LinkSettings, hashes: set[str], blooms: set[str]) -> list[tuple[str, str]]:
    """(pass name, feature) for every link-field feature a pass reads that the linked batches lack.

    The fixed features may be absent from a batch (a source without postcodes); a link field the batches
    lack is a setting naming something that does not exist, most often a misspelt name.
    """
    out = []
    for p in settings.passes:
        for name in p.features():
            if name.startswith("link_") and name not in (blooms if name.endswith("_bf") else hashes):
                out.append((p.name, name))
    return out
