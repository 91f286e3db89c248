"""Link settings files: the defaults print and load back exactly; any settings round-trip; a bad file is one
line naming the key and its line; a pass may only read features the linked batches have."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.arrays import BLOOM_COLUMNS, HASH_COLUMNS
from linkage.errors import LinkError
from linkage.pipeline import link
from linkage.settings import DEFAULT_PASSES, BlockingPass, LinkSettings
from linkage.settings_file import changed_settings, dump_settings, parse_settings, settings_dict


def test_the_default_file_loads_back_to_exactly_the_defaults():
    text = dump_settings(LinkSettings())
    assert parse_settings(text) == LinkSettings()
    assert parse_settings("") == LinkSettings()  # every key may be left out
    assert changed_settings(parse_settings(text)) == []
    assert text.count("[[blocking.passes]]") == len(DEFAULT_PASSES)


keys = st.lists(st.sampled_from([*HASH_COLUMNS, "link_soc_sec_id", "link_suburb"]), min_size=1, max_size=3,
                unique=True)
passes = st.builds(
    BlockingPass, name=st.text("abcdefghij+_ \"\\'é", min_size=1, max_size=12), keys=keys.map(tuple),
    lsh=st.none() | st.sampled_from([*BLOOM_COLUMNS, "link_suburb_bf"]),
    max_block_size=st.none() | st.integers(2, 10_000))
probability = st.none() | st.floats(0.001, 0.999)


@settings(max_examples=80, deadline=None)
@given(passes=st.lists(passes, min_size=1, max_size=5, unique_by=lambda p: p.name),
       bands=st.lists(st.floats(0.01, 1.0), min_size=1, max_size=5, unique=True),
       tf=st.lists(st.sampled_from(["family_name", "given_name"]), unique=True),
       link_t=probability, review_t=probability, twins=st.booleans(), within=st.booleans(),
       block=st.integers(2, 100_000), tol=st.floats(1e-12, 1.0), weight=st.floats(-50, 50), seed=st.integers(0, 2**40))
def test_any_settings_round_trip_through_the_file(passes, bands, tf, link_t, review_t, twins, within, block, tol,
                                                 weight, seed):
    chosen = LinkSettings(passes=tuple(passes), dice_bands=tuple(bands), tf_adjust=tuple(tf), link_threshold=link_t,
                          review_threshold=review_t, given_name_disagreement_reviews=twins, within_file_pairs=within,
                          max_block_size=block, em_tolerance=tol, contradiction_weight=weight, seed=seed)
    assert parse_settings(dump_settings(chosen)) == chosen
    assert settings_dict(chosen)["decision"]["link_threshold"] == link_t


@pytest.mark.parametrize(("text", "says"), [
    ("[blocking]\n\nmax_block_size = 1\n", "key blocking.max_block_size (line 3): "),
    ("[bloking]\nmax_block_size = 10\n", "key bloking (line 1): unknown section"),
    ("[em]\nem_max_iter = 10\nmax_iter = 5\n", "key em.max_iter (line 3): not a setting of [em]"),
    ("[blocking]\nwithin_file_pairs = \"yes\"\n", "key blocking.within_file_pairs (line 2): "),
    ("[decision]\nlink_threshold = \"auto\"\n", 'key decision.link_threshold (line 2): must be a probability'),
    ("[decision]\nreview_threshold = 1.0\n", "key decision.review_threshold (line 2): must be a probability"),
    ("[comparisons]\ntf_adjust = [\"postcode\"]\n", "key comparisons.tf_adjust (line 2): 'postcode' has no term"),
    ("[comparisons]\ndice_bands = []\n", "key comparisons.dice_bands (line 2)"),
    ('[[blocking.passes]]\nname = "a"\nkeys = ["dob"]\n\n[[blocking.passes]]\nname = "b"\nkeys = ["dob", "surname"]\n',
     "key blocking.passes[1].keys (line 7): unknown keyed feature 'surname'"),
    ('[[blocking.passes]]\nname = "a"\nkeys = ["dob"]\nlsh = "fam"\n',
     "key blocking.passes[0].lsh (line 4): unknown Bloom"),
    ('[[blocking.passes]]\nname = "a"\nkeys = ["dob"]\nsize = 3\n', "key blocking.passes[0].size (line 4): not a key"),
    ('[[blocking.passes]]\nname = "a"\n', "key blocking.passes[0] (line 1): a pass needs keys"),
    ('[[blocking.passes]]\nname = "a"\nkeys = ["dob"]\n[[blocking.passes]]\nname = "a"\nkeys = ["fam"]\n',
     "key blocking.passes (line 1): two passes are named 'a'"),
    ("[blocking]\nmax_block_size = 30\nmax_block_size = 40\n", "not valid TOML"),
])
def test_a_bad_file_is_one_line_naming_key_and_line(text, says):
    with pytest.raises(LinkError) as info:
        parse_settings(text, "link.toml")
    message = str(info.value)
    assert message.startswith("link.toml: ") and "\n" not in message
    assert says in message


def test_a_pass_reading_a_link_field_no_batch_has_is_refused(cohort):
    features, _ = cohort
    chosen = LinkSettings(passes=(*DEFAULT_PASSES, BlockingPass(name="ssn", keys=("link_soc_sec_id",))))
    with pytest.raises(LinkError, match="blocking pass 'ssn' reads 'link_soc_sec_id', but no linked batch has "
                                        "link field 'soc_sec_id'"):
        link(features, settings=chosen, new_person_id=lambda: "p")


def test_a_changed_pass_and_threshold_are_named_as_changes():
    text = dump_settings(LinkSettings()).replace('link_threshold = "model"', "link_threshold = 0.9")
    text += '\n[[blocking.passes]]\nname = "family_name+postcode"\nkeys = ["fam", "pc"]\nmax_block_size = 50\n'
    chosen = parse_settings(text)
    assert chosen.link_threshold == 0.9 and chosen.passes[-1].max_block_size == 50
    assert changed_settings(chosen) == ["blocking.passes", "decision.link_threshold"]
