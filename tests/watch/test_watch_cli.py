"""`takeback watch` end to end as a caseworker runs it; the check runs with the production fetch
policy, so a takedown URL on a private address is refused and the refusal is evidence."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_victim_cli import env, new_case, tb  # noqa: F401  (env is a fixture)
from tests.conftest import encode, synthetic_photo


def test_add_list_run_remove(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    ref = new_case(env, "-j", "US")
    assert tb(env, "case", "consent", "--case", ref, "--grant", "hashing").returncode == 0
    shot = tmp_path / "shot.jpg"
    shot.write_bytes(encode(synthetic_photo(200, 150, seed=4)))
    assert tb(env, "evidence", "add", "--case", ref, str(shot), "--hash-only").returncode == 0
    r = tb(
        env, "case", "takedown", "--case", ref, "--url", "http://127.0.0.1:9/post/1", "--platform", "Forum"
    )
    assert r.returncode == 0, r.stderr

    r = tb(env, "watch", "add", "--case", ref, "--every", "12h")
    assert r.returncode == 0, r.stderr
    assert "http://127.0.0.1:9/post/1, takedown #1: every 12 h, not checked yet" in r.stdout
    assert "Nothing to add" in tb(env, "watch", "add", "--case", ref).stdout
    assert tb(env, "watch", "add", "--case", ref, "--url", "ftp://x.example/").returncode != 0

    r = tb(env, "watch", "run")
    assert r.returncode == 0, r.stderr
    assert "unreachable (blocked_address), HTTP -" in r.stdout and "takedown sent" in r.stdout
    assert tb(env, "watch", "run").stdout.strip() == "Nothing is due."
    assert "last unreachable" in tb(env, "watch", "list", "--case", ref).stdout

    view = json.loads(tb(env, "case", "show", "--case", ref, "--json").stdout)
    assert view["custody"]["verified"] is True and view["custody"]["entries"] == 2  # the item + the check

    assert tb(env, "watch", "remove", "--case", ref, "--id", "1").returncode == 0
    assert "watches nothing" in tb(env, "watch", "list", "--case", ref).stdout
    assert tb(env, "watch", "remove", "--case", ref, "--id", "1").returncode == 1

    assert tb(env, "watch", "add", "--case", ref, "--url", "https://forum.example/t/2").returncode == 0
    r = tb(env, "case", "delete", "--case", ref, "--yes")
    assert r.returncode == 0, r.stderr
    assert tb(env, "watch", "run").stdout.strip() == "Nothing is due."
