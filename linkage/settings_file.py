"""Link settings as a TOML file an operator can start from, change, review and share; errors name key and line."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from linkage.errors import LinkError
from linkage.settings import LinkSettings

FROM_MODEL = "model"  # a threshold the model chooses (None in LinkSettings)

#: The file's sections and the LinkSettings fields each holds. `threads` and `chunk_pairs` are not in the
#: file: they change how fast a job runs, never what it finds.
SECTIONS: dict[str, tuple[str, ...]] = {
    "blocking": ("max_block_size", "max_number_group", "representatives_per_person", "within_file_pairs",
                 "lsh_bands", "lsh_band_bits", "passes"),
    "comparisons": ("dice_bands", "tf_adjust", "number_disagree_m", "bsn4_disagree_m"),
    "em": ("em_max_iter", "em_tolerance", "u_sample_pairs", "seed"),
    "decision": ("link_threshold", "review_threshold", "min_link_threshold", "given_name_disagreement_reviews",
                 "contradiction_weight", "within_file_probability"),
}
SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}

_NOTES = {
    "max_block_size": "a block with more records is skipped (and counted in the report)",
    "max_number_group": "a BSN/onderwijsnummer shared by more records is ignored",
    "representatives_per_person": "records of a numbered person a record without a number meets per block",
    "within_file_pairs": "also pair records of one export file (duplicates within a file)",
    "lsh_bands": "bands of a Bloom filter, for passes with lsh",
    "lsh_band_bits": "bits sampled per band",
    "dice_bands": "Dice similarities that start a level of each name and string link-field comparison",
    "tf_adjust": "comparisons whose exact agreement weighs by the value's frequency (family_name, given_name)",
    "number_disagree_m": "share of true matches whose BSN/onderwijsnummer differ (fixed, not trained)",
    "bsn4_disagree_m": "share of true matches whose last four BSN digits differ (fixed)",
    "em_max_iter": "EM iterations at most (the report warns when EM stops before it converges)",
    "em_tolerance": "EM stops when the log-likelihood gains less than this",
    "u_sample_pairs": "random pairs that estimate u",
    "seed": "seed of the random pairs and the LSH bands",
    "link_threshold": 'match probability from which a pair links; "model" = from the model',
    "review_threshold": 'match probability from which a pair goes to clerical review; "model" = from the model',
    "min_link_threshold": "a threshold from the model is never below this",
    "given_name_disagreement_reviews": "twins rule: same surname and birth date but other given names: review, "
                                       "never a link on probability alone",
    "contradiction_weight": "a pair agreeing on a number but weighing less than this on the rest goes to review",
    "within_file_probability": "a link inside one export file needs this probability",
}
_PASS_KEYS = ("name", "keys", "cross", "lsh", "max_block_size")

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_PART = r"(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')"
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _parts(dotted: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", dotted)]


def key_line(text: str, loc: Sequence[str | int]) -> int | None:
    """The 1-based line where the longest prefix of `loc` is written; an int in `loc` counts `[[tables]]`."""
    want = [str(p) for p in loc]
    best, best_len = None, 0
    table: list[str] = []
    seen: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            parts = _parts(header.group(2))
            if header.group(1) == "[[":
                seen[tuple(parts)] = seen.get(tuple(parts), -1) + 1
                parts = [*parts, str(seen[tuple(parts)])]
            table = path = parts
        else:
            key = _KEY.match(line)
            if not key:
                continue
            path = table + _parts(key.group(1))
        matched = 0
        for got, wanted in zip(path, want, strict=False):
            if got != wanted:
                break
            matched += 1
        whole = matched == len(path) or (header is not None and matched == len(want))  # a table under loc
        if whole and matched > best_len:
            best, best_len = number, matched
    return best


def _refuse(what: str, text: str, loc: Sequence[str | int], message: str) -> LinkError:
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(top level)"
    line = key_line(text, loc)
    return LinkError(f"{what}: key {key}{f' (line {line})' if line else ''}: {message}")


def parse_settings(text: str, what: str = "settings") -> LinkSettings:
    """Link settings from TOML text; a missing key keeps its default. LinkError names the key and its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LinkError(f"{what}: not valid TOML ({exc})") from None
    flat: dict[str, Any] = {}
    for section, values in data.items():
        if section not in SECTIONS:
            raise _refuse(what, text, [section], f"unknown section (known: {', '.join(SECTIONS)})")
        if not isinstance(values, dict):
            raise _refuse(what, text, [section], "must be a table ([section])")
        for name, value in values.items():
            if name not in SECTIONS[section]:
                raise _refuse(what, text, [section, name],
                              f"not a setting of [{section}] (it has: {', '.join(SECTIONS[section])})")
            if name in ("link_threshold", "review_threshold") and isinstance(value, str):
                if value != FROM_MODEL:
                    raise _refuse(what, text, [section, name],
                                  f'must be a probability between 0 and 1, or "{FROM_MODEL}"')
                value = None
            flat[name] = _tuples(value)
    try:  # strict: TOML has types, so "yes" is not a boolean and "300" not a number
        return LinkSettings.model_validate(flat, strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first["loc"] if isinstance(p, str | int)]
        if loc and loc[0] in SECTION_OF:
            loc = [SECTION_OF[str(loc[0])], *loc]
        message = first["msg"].split("\n")[0].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden" and "passes" in loc:
            message = f"not a key of a pass (it has: {', '.join(_PASS_KEYS)})"
        raise _refuse(what, text, loc, message) from None


def _tuples(value: Any) -> Any:
    """TOML arrays as tuples (what the frozen settings hold), all the way down."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value


def _value(value: Any) -> str:
    if value is None:
        return f'"{FROM_MODEL}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return str(value)


def dump_settings(settings: LinkSettings) -> str:
    """The settings as a TOML file `parse_settings` reads back to the same settings, with a note per key."""
    lines = ["# ttp link settings: `ttp link run SOURCES --settings FILE`; docs/linkage.md explains each key.",
             "# A key left out keeps its default (`ttp link settings --defaults` prints them all)."]
    for section, names in SECTIONS.items():
        lines += ["", f"[{section}]"]
        for name in names:
            if name != "passes":
                lines.append(f"# {_NOTES[name]}")
                lines.append(f"{name} = {_value(getattr(settings, name))}")
    lines += ["", "# Blocking passes, a union: records agreeing on every key of a pass become a candidate pair.",
              "# keys: keyed features (bsn onr bsn4 fam given1 pref init dob dob_ym pc pc4 ...) or",
              "# link_<field> for a profile's link field; cross = [left, right] joins two columns (a day/month",
              "# swap); lsh = a Bloom filter (fam_bf, given_bf, pref_bf, link_<field>_bf) cut into bands;",
              "# max_block_size caps this pass's blocks (default the [blocking] one)."]
    for p in settings.passes:
        lines += ["", "[[blocking.passes]]"]
        for key in _PASS_KEYS:
            value = getattr(p, key)
            if value is not None and value != ():
                lines.append(f"{key} = {_value(value)}")
    return "\n".join(lines) + "\n"


def settings_dict(settings: LinkSettings) -> dict[str, Any]:
    """The settings in the file's shape (sections, passes as tables), JSON-able; thresholds None = model."""
    out: dict[str, Any] = {}
    for section, names in SECTIONS.items():
        out[section] = {n: getattr(settings, n) for n in names if n != "passes"}
    out["blocking"]["passes"] = [{k: getattr(p, k) for k in _PASS_KEYS if getattr(p, k) not in (None, ())}
                                 for p in settings.passes]
    return out


def changed_settings(settings: LinkSettings) -> list[str]:
    """The file's keys whose value differs from the default (`blocking.passes` as one key)."""
    default = LinkSettings()
    return [f"{SECTION_OF[n]}.{n}" for n in SECTION_OF if getattr(settings, n) != getattr(default, n)]
