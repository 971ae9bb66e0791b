"""``takeback bank held / accept / reject``: the curator's review of held entries, and ``match``
leaving held entries out until they are accepted."""

from __future__ import annotations

import numpy as np

from takeback.banks import service as banks
from takeback.store import Database
from tests.banks.helpers import Cli, cli, jsonl, rand_bytes

__all__ = ["cli"]


def matched(cli: Cli, pdq: str) -> list[int]:
    r = cli("match", "--pdq", pdq, "-f", "jsonl")
    (rec,) = jsonl(r.stdout)
    return [m["content_id"] for m in rec["matches"]]


def test_review_held_entries_from_the_cli(cli: Cli, db: Database) -> None:
    rng = np.random.default_rng(11)
    hashes = [rand_bytes(rng).hex() for _ in range(3)]
    assert cli("bank", "create", "mirror").exit_code == 0
    for h in hashes:
        assert cli("bank", "add-hash", "mirror", "--pdq", h).exit_code == 0
    with db.session() as s:
        banks.hold_entries(s, bank_name="mirror", content_ids=[1, 2, 3], reason="pending_review", actor="t")
    r = cli("bank", "held", "mirror", "-f", "jsonl")
    assert r.exit_code == 0
    assert [(x["content_id"], x["reason"], x["held_until"]) for x in jsonl(r.stdout)] == [
        (1, "pending_review", None),
        (2, "pending_review", None),
        (3, "pending_review", None),
    ]
    assert jsonl(cli("bank", "held", "mirror", "--reason", "disputed", "-f", "jsonl").stdout) == []
    (info,) = jsonl(cli("bank", "list", "-f", "jsonl").stdout)
    assert info["held_entries"] == 3
    assert matched(cli, hashes[0]) == []

    r = cli("bank", "accept", "mirror", "1")
    assert r.exit_code == 0 and "Accepted 1 entry" in r.stdout
    assert matched(cli, hashes[0]) == [1]
    # per-item errors, and nothing changed by a refused request
    r = cli("bank", "accept", "mirror", "1", "2")
    assert r.exit_code == 1 and "entry 1 is not held" in r.stderr
    r = cli("bank", "reject", "mirror", "2", "99")
    assert r.exit_code == 1 and "no entry with id 99" in r.stderr
    r = cli("bank", "accept", "mirror", "2", "--all")
    assert r.exit_code == 2 and "not both" in r.stderr
    r = cli("bank", "held", "mirror", "--reason", "spam")
    assert r.exit_code == 1 and "pending_review or disputed" in r.stderr
    assert [x["content_id"] for x in jsonl(cli("bank", "held", "mirror", "-f", "jsonl").stdout)] == [2, 3]

    r = cli("bank", "reject", "mirror", "--all")
    assert r.exit_code == 0 and "Rejected 2 entries" in r.stdout
    assert matched(cli, hashes[1]) == []
    assert jsonl(cli("bank", "held", "mirror", "-f", "jsonl").stdout) == []
    r = cli("bank", "show", "mirror", "-f", "jsonl")
    (shown,) = jsonl(r.stdout)
    assert shown["held_entries"] == 0 and shown["disabled_entries"] == 2
