"""Synthetic pupils across five sources, turned into feature frames shaped like the pseudonymiser's."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

import numpy as np
import pandas as pd

GIVEN_F = ["Maria", "Anna", "Emma", "Sophie", "Julia", "Lisa", "Sara", "Eva", "Noor", "Fleur", "Lotte", "Tess",
           "Sanne", "Fenna", "Mila", "Zoe", "Nora", "Yara", "Lina", "Femke", "Iris", "Roos", "Elif", "Fatima"]
GIVEN_M = ["Johannes", "Daan", "Sem", "Lucas", "Levi", "Finn", "Milan", "Jesse", "Thomas", "Bram", "Ruben",
           "Lars", "Thijs", "Noah", "Mohammed", "Adam", "Luuk", "Stijn", "Gijs", "Hendrik", "Cornelis",
           "Wilhelmus", "Jan", "Pieter"]
NICK = {"Maria": "Mieke", "Johannes": "Hans", "Cornelis": "Kees", "Wilhelmus": "Wim", "Hendrik": "Henk",
        "Pieter": "Piet", "Anna": "Anneke", "Elisabeth": "Lies"}
FAMILY = ["Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder",
          "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit",
          "Dijkstra", "Smits", "de Graaf", "van der Meer", "Kok", "Jacobs", "Vermeulen", "van Dijk",
          "Yilmaz", "Kaya", "El Amrani", "Bouzid", "Schouten", "Willems", "van Vliet", "Hoekstra", "Maas",
          "Verhoeven", "Koster", "Prins", "Blom", "Huisman", "Kuipers", "Veenstra", "Kramer", "Wijnands"]
SOURCES = {"vve": (0.55, 2), "po": (0.97, 4), "vo": (0.85, 12), "mbo": (0.45, 16), "register": (0.9, 0)}
PARTICLES = {"de", "van", "den", "der", "het", "ter", "ten", "te", "in", "el"}


def _bsn(rng: np.random.Generator) -> str:
    while True:
        d = rng.integers(0, 10, 8)
        if d[0] == 0:
            continue
        check = int(sum(int(x) * w for x, w in zip(d, range(9, 1, -1), strict=True)) % 11)
        if check < 10:
            return "".join(map(str, d)) + str(check)


def _typo(name: str, rng: np.random.Generator) -> str:
    if len(name) < 3:
        return name
    i = int(rng.integers(1, len(name) - 1))
    kind = int(rng.integers(0, 3))
    letters = "abcdefghijklmnopqrstuvwxyz"
    if kind == 0:
        return name[:i] + name[i + 1:]
    if kind == 1:
        return name[:i] + letters[int(rng.integers(0, 26))] + name[i + 1:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


def _name_tail(size: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Distinct made-up given names of two syllables with Zipf-like cumulative weights (a long tail)."""
    rng = np.random.default_rng(seed)
    onsets = ["", "b", "br", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "st", "t", "v", "w", "z"]
    vowels = ["a", "e", "i", "o", "u", "aa", "ee", "ie", "oo", "ij", "y"]
    codas = ["", "n", "l", "s", "r", "t", "m", "k"]
    names: dict[str, None] = {}
    while len(names) < size:
        parts = [onsets[int(rng.integers(0, len(onsets)))] + vowels[int(rng.integers(0, len(vowels)))]
                 + codas[int(rng.integers(0, len(codas)))] for _ in range(2)]
        name = "".join(parts).capitalize()
        if len(name) >= 3:
            names[name] = None
    weights = np.cumsum(1.0 / np.arange(1, size + 1) ** 0.8)
    return list(names), weights / weights[-1]


NATIONAL_NAME_TAIL = 0.75


def make_persons(n: int, seed: int = 0, twin_share: float = 0.02, national: bool = False) -> pd.DataFrame:
    """One row per child: the truth the sources are drawn from (twins share birth date, surname, address).

    `national`: names spread as a whole country's birth cohorts spread them — three children in four have
    a given name from a long tail of 4,000 per sex and a surname from the long tail of rare ones. Without
    it the pools are dense (24 given names per sex, half the children in 44 surnames): at a million
    children in six birth years that puts ~10 children of one sex, birth date and given name together,
    about ten times what Dutch birth registers show.
    """
    rng = np.random.default_rng(seed)
    name_tail = NATIONAL_NAME_TAIL if national else 0.0
    tails = {"F": _name_tail(4000, 101), "M": _name_tail(4000, 102)} if national else {}
    rare_surname = max(0.5, name_tail)
    rows = []
    eid = 0
    while len(rows) < n:
        sex = "F" if rng.random() < 0.5 else "M"
        pool = GIVEN_F if sex == "F" else GIVEN_M
        fam = FAMILY[int(rng.integers(0, len(FAMILY)))]
        if rng.random() < 0.08:
            fam = fam + "-" + FAMILY[int(rng.integers(0, len(FAMILY)))].split()[-1]
        if rng.random() < rare_surname:  # a long tail of rare surnames
            fam = fam + "".join(rng.choice(list("aeioulnrst"), 2))
        dob = dt.date(2008, 1, 1) + dt.timedelta(days=int(rng.integers(0, 6 * 365)))
        pc = f"{int(rng.integers(1000, 10000))}{chr(65 + int(rng.integers(0, 26)))}{chr(65 + int(rng.integers(0, 26)))}"
        n_twin = 2 if rng.random() < twin_share else 1
        used: set[str] = set()
        first_eid = eid
        for k in range(n_twin):
            sex_k = sex if k == 0 or rng.random() < 0.5 else ("M" if sex == "F" else "F")
            pool = GIVEN_F if sex_k == "F" else GIVEN_M
            g1 = pool[int(rng.integers(0, len(pool)))]
            while g1 in used:
                g1 = pool[int(rng.integers(0, len(pool)))]
            if tails and rng.random() < name_tail:
                tail, cum = tails[sex_k]
                g1 = tail[min(int(np.searchsorted(cum, rng.random())), len(tail) - 1)]
                while g1 in used:
                    g1 = tail[int(rng.integers(0, len(tail)))]
            used.add(g1)
            given = g1 + (" " + pool[int(rng.integers(0, len(pool)))] if rng.random() < 0.4 else "")
            pref = NICK.get(g1, g1) if rng.random() < 0.6 else g1
            rows.append(dict(entity_id=f"E{eid:07d}", twin_of=f"E{first_eid:07d}" if k else None,
                             given_names=given, preferred_name=pref, family_name=fam, birth_date=dob,
                             sex=sex_k, postcode=pc, bsn=_bsn(rng),
                             onr=f"10{int(rng.integers(0, 10**7)):07d}"))
            eid += 1
        if n_twin == 2:
            rows[-2]["twin_of"] = rows[-1]["entity_id"]
    return pd.DataFrame(rows[:n])


def make_records(persons: pd.DataFrame, seed: int = 0, error_rate: float = 1.0, national: bool = False
                 ) -> pd.DataFrame:
    """Canonical-like records of every source with realistic errors (typos, nicknames, swaps, moves).

    `national`: a child who moves goes to any postcode; without it moves land in 9,000 postcodes ending
    in XZ (dense, as the small tests were written for).
    """
    rng = np.random.default_rng(seed + 1)
    out = []
    e = error_rate
    for p in persons.itertuples(index=False):
        pc = p.postcode
        fam_true = p.family_name
        for src, (share, _age) in SOURCES.items():
            if rng.random() > share:
                continue
            if rng.random() < 0.25 * e:  # moved since
                if rng.random() < 0.3:
                    pc = pc[:4] + chr(65 + int(rng.integers(0, 26))) + "A"
                elif national:
                    pc = f"{int(rng.integers(1000, 10000))}{chr(65 + int(rng.integers(0, 26)))}" \
                         f"{chr(65 + int(rng.integers(0, 26)))}"
                else:
                    pc = f"{int(rng.integers(1000, 10000))}XZ"
            n_files = 2 if src in ("po", "vo") and rng.random() < 0.1 else 1
            for f in range(n_files):
                school = f"{int(rng.integers(10, 40)):02d}{src.upper()[:2]}"
                rec = dict(source=src, entity_id=p.entity_id, twin_of=p.twin_of, school=school,
                           export_file=f"{school}00/{2020 + f}-{2021 + f}",
                           record_key=f"{src}-{int(rng.integers(0, 10**9))}-{len(out)}")
                dob = p.birth_date
                r = rng.random()
                if r < 0.01 * e and dob.day <= 12 and dob.day != dob.month:
                    dob = dt.date(dob.year, dob.day, dob.month)
                elif r < 0.02 * e:
                    try:
                        dob = dob.replace(day=int(rng.integers(1, 29)))
                    except ValueError:
                        pass
                rec["birth_date"] = dob.isoformat()
                rec["sex"] = p.sex if rng.random() > 0.005 * e else None
                number = rng.random()
                rec["bsn"] = p.bsn if number > 0.08 * e else None
                rec["onderwijsnummer"] = p.onr if rec["bsn"] is None and src in ("po", "vo") and rng.random() < 0.7 \
                    else None
                if src == "register":  # a nameless file keyed by number (the open-records pass)
                    rec.update(bsn=p.bsn, onderwijsnummer=None, family_name=None,
                               given_names=None, preferred_name=None, postcode=pc, birth_date=p.birth_date.isoformat())
                    out.append(rec)
                    continue
                fam = fam_true
                if "-" in fam and rng.random() < 0.4 * e:
                    fam = fam.split("-")[0]
                if rng.random() < 0.03 * e:
                    fam = _typo(fam, rng)
                rec["family_name"] = fam
                if src == "vve" or (src == "mbo" and rng.random() < 0.5):
                    rec["given_names"] = None
                    rec["preferred_name"] = p.preferred_name
                elif src == "mbo":
                    rec["given_names"] = p.given_names
                    rec["preferred_name"] = None
                else:
                    rec["given_names"] = p.given_names
                    rec["preferred_name"] = p.preferred_name
                if rng.random() < 0.03 * e:
                    key = "given_names" if rec["given_names"] else "preferred_name"
                    rec[key] = _typo(rec[key], rng)
                rec["postcode"] = pc if rng.random() > 0.03 * e else None
                out.append(rec)
    return pd.DataFrame(out)


def _h(secret: bytes, domain: str, value: str | None) -> int:
    if value is None or value == "":
        return 0
    d = hmac.digest(secret, f"{domain}|1|{value}".encode(), "sha256")
    v = int.from_bytes(d[:8], "big", signed=True)
    return v or 1


def _bloom(secret: bytes, value: str | None, nbytes: int = 64, k: int = 20) -> bytes:
    bits = np.zeros(nbytes * 8, dtype=bool)
    if value:
        s = f"_{value}_"
        for i in range(len(s) - 1):
            d = hashlib.sha256(secret + s[i:i + 2].encode()).digest()
            h1, h2 = int.from_bytes(d[:8], "big"), int.from_bytes(d[8:16], "big")
            for j in range(k):
                bits[(h1 + j * h2) % (nbytes * 8)] = True
    return np.packbits(bits).tobytes()


def _norm(name: str | None) -> str | None:
    if not name:
        return None
    return name.lower().replace("-", " ")


def _family_parts(name: str | None) -> tuple[str | None, str | None, str | None]:
    n = _norm(name)
    if not n:
        return None, None, None
    words = [w for w in n.split() if w not in PARTICLES]
    raw = name.lower().split("-")
    if len(raw) > 1:
        a = " ".join(w for w in raw[0].split() if w not in PARTICLES)
        b = " ".join(w for w in raw[-1].split() if w not in PARTICLES)
        return "".join(words), a, b
    return "".join(words), "".join(words), None


def features_from_records(records: pd.DataFrame, secret: bytes = b"s" * 32) -> pd.DataFrame:
    """Feature frame (architecture.md) from canonical-like records, hashed with HMAC-SHA256."""
    rows = []
    for r in records.itertuples(index=False):
        fam, fam_a, fam_b = _family_parts(r.family_name)
        given = _norm(r.given_names)
        given1 = given.split()[0] if given else None
        pref = _norm(r.preferred_name)
        init = (given1 or pref or "")[:1] or None
        y = m = d = None
        swap = None
        if r.birth_date:
            y, m, d = r.birth_date.split("-")
            if int(d) <= 12 and d != m:
                swap = f"{y}-{d}-{m}"
        row = dict(
            record_id=hashlib.sha256(f"{r.source}|{r.export_file}|{r.record_key}".encode()).hexdigest()[:32],
            label_id=hashlib.sha256(f"{r.source}|{r.school}|{r.record_key}".encode()).hexdigest()[:32],
            source=r.source, export_file=r.export_file, key_version=1,
            bsn=_h(secret, "bsn", r.bsn), onr=_h(secret, "onr", r.onderwijsnummer),
            bsn4=_h(secret, "bsn4", r.bsn[-4:] if r.bsn else None),
            fam=_h(secret, "fam", fam), fam_a=_h(secret, "fam", fam_a), fam_b=_h(secret, "fam", fam_b),
            prefix=0, given=_h(secret, "given", given), given1=_h(secret, "given1", given1),
            pref=_h(secret, "given1", pref), init=_h(secret, "init", init),
            dob=_h(secret, "dob", r.birth_date), dob_swap=_h(secret, "dob", swap),
            dob_ym=_h(secret, "dob_ym", f"{y}-{m}" if y else None),
            dob_yd=_h(secret, "dob_yd", f"{y}-{d}" if y else None),
            dob_md=_h(secret, "dob_md", f"{m}-{d}" if y else None), dob_y=_h(secret, "dob_y", y),
            pc=_h(secret, "pc", r.postcode), pc4=_h(secret, "pc4", r.postcode[:4] if r.postcode else None),
            sex=np.int8({"M": 1, "F": 2}.get(r.sex, 0)),
            fam_bf=_bloom(secret, fam), given_bf=_bloom(secret, given1), pref_bf=_bloom(secret, pref),
        )
        rows.append(row)
    f = pd.DataFrame(rows)
    f["sex"] = f["sex"].astype("int8")
    return f


def pseudonymised(records: pd.DataFrame, secret: bytes = b"s" * 32) -> pd.DataFrame:
    """Feature frame of the records through `linkage.pseudonymise.make_features`, one batch per source."""
    from linkage.pseudonymise import make_features

    frames = []
    for source, batch in records.groupby("source", sort=False):
        canonical = batch.drop(columns=["entity_id", "twin_of", "source"]).rename(
            columns={"given_names": "given_names"})
        canonical["bsn4"] = canonical["bsn"].map(lambda b: b[-4:] if isinstance(b, str) else None)
        canonical["sex"] = canonical["sex"].fillna("")
        frames.append(make_features(canonical.reset_index(drop=True), source=str(source), secret=secret,
                                    key_version=1))
    order = records.groupby("source", sort=False).apply(lambda g: g.index.to_series(), include_groups=False)
    out = pd.concat(frames, ignore_index=True)
    out.index = order.to_numpy()
    return out.sort_index().reset_index(drop=True)


def synthetic_cohort(n: int, seed: int = 0, error_rate: float = 1.0, *, hand_made: bool = False
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, labels) for n synthetic children; labels have record_id, source, entity_id, twin_of.

    Features come from the real pseudonymiser; `hand_made=True` uses this module's own HMAC features.
    """
    persons = make_persons(n, seed)
    records = make_records(persons, seed, error_rate)
    features = features_from_records(records) if hand_made else pseudonymised(records)
    labels = pd.DataFrame({"record_id": features["record_id"], "source": features["source"],
                           "entity_id": records["entity_id"].to_numpy(), "twin_of": records["twin_of"].to_numpy()})
    return features, labels
