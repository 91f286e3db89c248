"""Settings of a link job: blocking passes, comparison bands, model priors and decision thresholds."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from linkage.parallel import default_threads


class BlockingPass(BaseModel):
    """One blocking pass: records agreeing on all `keys` become candidate pairs.

    `cross` joins the left record's `cross[0]` column to the right record's `cross[1]` column
    (e.g. the day/month-swapped date to the date). `lsh` keys are Bloom-filter bands of that column.
    """

    model_config = ConfigDict(frozen=True)
    name: str
    keys: tuple[str, ...] = ()
    cross: tuple[str, str] | None = None
    lsh: str | None = None


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

    model_config = ConfigDict(frozen=True)
    passes: tuple[BlockingPass, ...] = DEFAULT_PASSES
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
