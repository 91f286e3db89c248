"""Events: canonical leaf bytes, the chain hash, and refusal of floats and identifying values."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.errors import AuditError
from audit.event import (
    EVENT_FIELDS,
    GENESIS,
    Event,
    chain,
    format_time,
    leaf_bytes,
    new_event,
    stored_leaf_bytes,
    to_row,
)


def test_leaf_bytes_are_canonical_json():
    event = Event(seq=3, time="2025-02-01T10:00:00+01:00", actor="ops", role="operator", action="key.rotate",
                  key_id="linkage-v2", key_version=2, counts={"b": 2, "a": 1},
                  details={"z": [1, "é"], "a": None})
    expected = ('{"action":"key.rotate","actor":"ops","batch_id":null,"counts":{"a":1,"b":2},'
                '"details":{"a":null,"z":[1,"é"]},"job_id":null,"key_id":"linkage-v2","key_version":2,'
                '"outcome":"ok","release_id":null,"request_id":null,"role":"operator","seq":3,'
                '"time":"2025-02-01T09:00:00.000000Z"}').encode()
    assert leaf_bytes(event) == expected


def test_same_event_from_row_in_any_form_gives_same_bytes():
    event = new_event(7, "ops", "operator", "batch.import", time=datetime(2025, 1, 1, 12, tzinfo=UTC),
                      batch_id=42, counts={"rows": 10})
    row = to_row(event, GENESIS)
    from_db = {**row, "time": datetime(2025, 1, 1, 12), "counts": json.dumps({"rows": 10}), "id": 99}
    assert leaf_bytes(row) == leaf_bytes(from_db) == leaf_bytes(event)
    assert json.loads(leaf_bytes(event))["batch_id"] == "42"


def test_chain_is_sha256_of_prev_and_leaf_hash():
    leaf = b'{"seq":1}'
    expected = hashlib.sha256(bytes(32) + hashlib.sha256(b"\x00" + leaf).digest()).digest()
    assert chain(GENESIS, leaf) == expected
    assert chain(expected, leaf) != expected
    with pytest.raises(AuditError):
        chain(b"short", leaf)


def test_row_carries_prev_and_hash():
    event = new_event(1, "ops", "operator", "log.start")
    row = to_row(event, GENESIS)
    assert set(row) == {*EVENT_FIELDS, "prev_hash", "hash"}
    assert row["prev_hash"] == "00" * 32
    assert bytes.fromhex(row["hash"]) == chain(GENESIS, leaf_bytes(event))


@pytest.mark.parametrize(("fields", "named"), [
    ({"details": {"p": 0.5}}, "details.p"),
    ({"details": {"x": [{"bsn": "111222333"}]}}, "details.x[0].bsn"),
    ({"details": {"who": "1234 AB"}}, "details.who"),
    ({"counts": {"rows": 1.0}}, "counts"),
    ({"counts": {"rows": True}}, "counts"),
    ({"details": {"f": {1, 2}}}, "details.f"),
    ({"details": {"n": float("nan")}}, "details.n"),
])
def test_refuses_floats_and_identifying_values_without_echoing_them(fields, named):
    with pytest.raises(AuditError) as raised:
        new_event(1, "ops", "operator", "x", **fields)
    message = str(raised.value)
    assert named in message and "\n" not in message
    assert "111222333" not in message and "1234 AB" not in message


@pytest.mark.parametrize("bad", [{"seq": 0}, {"seq": "1"}, {"actor": ""}, {"time": "yesterday"},
                                 {"key_version": "2"}, {"role": None}])
def test_refuses_malformed_fields(bad):
    fields = {"seq": 1, "time": "2025-01-01T00:00:00Z", "actor": "a", "role": "r", "action": "x", **bad}
    with pytest.raises(AuditError):
        Event(**fields)


def test_time_is_normalised_to_utc():
    amsterdam = timezone(timedelta(hours=2))
    assert format_time(datetime(2025, 6, 1, 14, 0, tzinfo=amsterdam)) == "2025-06-01T12:00:00.000000Z"
    assert format_time("2025-06-01T12:00:00Z") == format_time(datetime(2025, 6, 1, 12))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(categories=["L", "P", "Zs"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4),
       st.dictionaries(st.text(max_size=8), st.integers(), max_size=3), st.integers(1, 10**12))
def test_leaf_bytes_round_trip_and_ignore_key_order(details, counts, seq):
    event = new_event(seq, "ops", "officer", "release.approve", counts=counts, details=details)
    data = leaf_bytes(event)
    assert json.loads(data) == event.to_dict()
    reversed_row = dict(reversed(list(event.to_dict().items())))
    reversed_row["details"] = dict(reversed(list(event.details.items())))
    assert leaf_bytes(reversed_row) == data
    assert leaf_bytes({**event.to_dict(), "details": {**details, "extra": 1}}) != data


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values, max_size=4), st.integers(0, 10**6),
       st.datetimes(timezones=st.just(UTC)), st.booleans(), st.booleans())
def test_fast_stored_row_bytes_equal_validated_bytes(details, batch, when, naive_time, text_json):
    event = new_event(5, "ops", "operator", "job.run", time=when, batch_id=batch, details=details,
                      counts={"pairs": batch})
    row = to_row(event, GENESIS)
    if naive_time:  # as SQLite's DateTime column gives it back
        row["time"] = when.replace(tzinfo=None)
    if text_json:  # as a TEXT column gives it back
        row["details"], row["counts"] = json.dumps(details), json.dumps({"pairs": batch})
    row["batch_id"] = batch
    assert stored_leaf_bytes(row) == leaf_bytes(row) == leaf_bytes(event)
