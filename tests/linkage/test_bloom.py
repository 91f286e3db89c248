"""Keyed, diffused Bloom filters: determinism, key separation, Dice helpers and the substitution bound."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.bloom import BloomEncoder, BloomParams, as_matrix, dice, dice_lower_bound, dice_pairs, qgrams

KEY = bytes(range(32))
ENC = BloomEncoder(KEY)
LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORDS = st.text(alphabet=LETTERS, min_size=3, max_size=14)


def test_qgrams_are_padded_bigrams():
    assert qgrams("jan") == {"_j", "ja", "an", "n_"}
    assert qgrams("") == set()


def test_filters_have_fixed_length_and_missing_stays_none():
    out = ENC.encode(["jansen", None, "", "de vries"])
    assert [len(x) if x else x for x in out] == [128, None, None, 128]


def test_same_text_same_filter_other_key_other_filter():
    a = ENC.encode(["jansen"])[0]
    assert BloomEncoder(KEY).encode(["jansen"])[0] == a
    assert BloomEncoder(bytes(32)).encode(["jansen"])[0] != a


def test_diffusion_rows_use_distinct_input_bits():
    rows = ENC.diffusion_rows
    assert rows.shape == (1024, ENC.params.diffusion)
    assert all(len(set(r)) == len(r) for r in rows.tolist())
    assert ENC.column_weights.sum() == 1024 * ENC.params.diffusion


def test_diffusion_is_xor_of_chosen_bits():
    plain = ENC.input_bits(["jansen"])
    out = ENC.diffuse(plain)[0]
    j = 17
    assert out[j] == np.bitwise_xor.reduce(plain[0, ENC.diffusion_rows[j]])


def test_dice_helpers():
    a = np.array([[0b1111_0000]], dtype=np.uint8)
    b = np.array([[0b1100_1100]], dtype=np.uint8)
    assert dice(a, b)[0] == pytest.approx(2 * 2 / 8)
    assert np.isnan(dice(np.zeros((1, 1), np.uint8), np.zeros((1, 1), np.uint8))[0])
    matrix, present = as_matrix(ENC.encode(["jansen", None, "janssen"]))
    assert present.tolist() == [True, False, True]
    d = dice_pairs(matrix, np.array([0, 0, 1]), np.array([0, 2, 2]))
    assert d[0] == 1.0 and 0 < d[1] < 1 and d[2] == pytest.approx(0.0)


def substitute(text: str, position: int, letter: str) -> str:
    return text[:position] + letter + text[position + 1 :]


@given(WORDS, st.data())
@settings(max_examples=150)
def test_single_substitution_respects_proven_bound(word, data):
    position = data.draw(st.integers(0, len(word) - 1))
    letter = data.draw(st.sampled_from([c for c in LETTERS if c != word[position]]))
    other = substitute(word, position, letter)
    a, b = ENC.encode_bits([word, other])
    observed = dice(a[None], b[None])[0]
    bound = dice_lower_bound(ENC, word, other)
    assert observed >= bound - 1e-12
    # the bound itself: at most 4 bigrams change, `hashes` bits each, each feeding at most max-weight outputs
    worst = 1 - 4 * ENC.params.hashes * ENC.column_weights.max() / (a.sum() + b.sum())
    assert bound >= worst - 1e-12


@given(WORDS.filter(lambda w: len(w) >= 6), st.data())
@settings(max_examples=60)
def test_dice_floor_falls_linearly_with_substitutions(word, data):
    positions = data.draw(st.permutations(range(len(word))))[:3]
    texts = [word]
    for p in positions:
        prev = texts[-1]
        texts.append(substitute(prev, p, LETTERS[(LETTERS.index(prev[p]) + 13) % 26]))
    bits = ENC.encode_bits(texts)
    weight, k = ENC.column_weights.max(), ENC.params.hashes
    for d in (1, 2, 3):
        observed = dice(bits[:1], bits[d : d + 1])[0]
        # d substitutions change at most 4d bigrams: the proven floor falls linearly with d
        floor = 1 - 4 * d * k * weight / (bits[0].sum() + bits[d].sum())
        assert observed >= dice_lower_bound(ENC, word, texts[d]) - 1e-12 >= floor - 1e-12


def test_mean_dice_separates_edit_distances():
    rng = np.random.default_rng(3)
    words = ["".join(rng.choice(list(LETTERS), rng.integers(5, 10))) for _ in range(300)]

    def edited(w: str, k: int) -> str:
        for p in rng.choice(len(w), k, replace=False):
            w = substitute(w, int(p), LETTERS[(LETTERS.index(w[p]) + 7) % 26])
        return w

    base = ENC.encode_bits(words)
    means = [np.nanmean(dice(base, ENC.encode_bits([edited(w, k) for w in words]))) for k in (1, 2, 3)]
    unrelated = np.nanmean(dice(base, np.roll(base, 1, axis=0)))
    assert means[0] > means[1] > means[2] > unrelated


def test_params_are_checked():
    with pytest.raises(ValueError):
        BloomParams(length=1000)
    with pytest.raises(ValueError):
        BloomParams(diffusion=0)


@given(st.lists(st.text(alphabet=LETTERS + " 'é_", max_size=12), max_size=20))
@settings(max_examples=50, deadline=None)
def test_fast_encoding_equals_the_reference_bit_matrix(texts):
    texts = [t for t in texts if t]
    want = [np.packbits(row, bitorder="little").tobytes() for row in ENC.encode_bits(texts)]
    assert ENC.encode(texts) == want
