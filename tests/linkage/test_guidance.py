"""Guidance: a job that looks wrong gets a warning naming the setting; a healthy one gets none."""

from __future__ import annotations

from linkage.guidance import ingest_guidance, link_guidance


def report(passes: list[dict], converged: bool = True, records: int = 10_000) -> dict:
    return {"records": records, "blocking": {"passes": passes},
            "model": {"training": {"em_converged": converged, "em_iterations": 200}}}


def one_pass(name: str = "p", pairs: int = 5000, new_pairs: int = 5000, new_links: int = 4000,
             skipped_blocks: int = 0, skipped_records: int = 0) -> dict:
    return {"pass": name, "pairs": pairs, "new_pairs": new_pairs, "new_links": new_links,
            "skipped_blocks": skipped_blocks, "skipped_records": skipped_records}


def test_a_healthy_job_has_no_warnings():
    assert link_guidance(report([one_pass(), one_pass("q", new_pairs=0, new_links=0)])) == []


def test_each_look_of_wrongness_names_its_setting():
    warnings = link_guidance(report([
        one_pass("nothing", pairs=0, new_pairs=0, new_links=0),
        one_pass("busy", new_pairs=200_000, new_links=3),
        one_pass("capped", skipped_blocks=4, skipped_records=2000),
    ], converged=False))
    assert [w["setting"] for w in warnings] == [
        'blocking.passes "nothing"', 'blocking.passes "busy"',
        'blocking.passes "capped" max_block_size, or blocking.max_block_size', "em.em_max_iter, em.em_tolerance"]
    assert "reached no pairs" in warnings[0]["message"]
    assert "200,000 new pairs of which 3 linked" in warnings[1]["message"]
    assert "skipped 4 blocks" in warnings[2]["message"] and "200 iterations" in warnings[3]["message"]


def test_a_busy_pass_with_enough_links_and_a_few_skipped_records_pass_quietly():
    assert link_guidance(report([one_pass(new_pairs=200_000, new_links=201),
                                 one_pass("q", skipped_blocks=1, skipped_records=99)])) == []


def test_a_field_dropped_in_most_records_names_the_profile_setting():
    batches = [{"batch_id": "b1", "source": "mbo", "accepted": 100, "fields_dropped": {
        "birth_date": {"before earliest_birth_date 1990-01-01": 60, "unparseable date": 2},
        "postcode": {"malformed postcode": 50}, "link:crebo": {"not a number": 51}, "sex": {"unknown sex code": 99}}}]
    warnings = ingest_guidance(batches)
    assert [w["setting"] for w in warnings] == [
        "profile of mbo: earliest_birth_date, latest_birth_date", "profile of mbo: link_fields.crebo (its column "
        "and kind)", "profile of mbo: sex_codes"]
    assert warnings[0]["message"] == ("batch b1 (mbo): birth_date was dropped in 62 of 100 records (most: before "
                                      "earliest_birth_date 1990-01-01), so linkage goes without it")
    batches[0]["fields_dropped"] = {"birth_date": {"unparseable date": 70}}
    assert ingest_guidance(batches)[0]["setting"] == "profile of mbo: date_format"
