"""The API-key service: secrets stored hashed, tokens parsed strictly, scopes by bank id, audit rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from takeback.auth import (
    ApiKey,
    AuthError,
    Role,
    create_key,
    describe_key,
    get_key,
    list_keys,
    parse_token,
    resolve_banks,
    revoke_key,
    verify_secret,
)
from takeback.banks.service import create_bank, delete_bank, update_bank
from takeback.store import AuditEvent, Database


def test_the_secret_is_never_stored(db: Database) -> None:
    with db.session() as s:
        created = create_key(s, role=Role.MATCHER, actor="t", name="platform")
    key_id, secret = parse_token(created.token)
    assert key_id == created.info.key_id
    with db.session() as s:
        row = get_key(s, key_id=key_id)
        assert row is not None
        stored = " ".join(str(getattr(row, c.key)) for c in ApiKey.__table__.columns)
        assert secret not in stored and created.token not in stored
        assert verify_secret(row, secret)
        assert not verify_secret(row, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
        events = s.scalars(select(AuditEvent)).all()
        assert [(e.action, e.object_id) for e in events] == [("key.create", key_id)]
        assert secret not in str(events[0].details)


def test_two_keys_never_share_an_id_or_secret(db: Database) -> None:
    with db.session() as s:
        tokens = {create_key(s, role=Role.MATCHER, actor="t").token for _ in range(50)}
    assert len(tokens) == 50
    assert len({parse_token(t)[0] for t in tokens}) == 50


@pytest.mark.parametrize(
    "token",
    [
        "",
        "tbk_",
        "tbk_ABCDEFGHIJKL_" + "a" * 43,
        "tbk_abcdefghijkl_" + "a" * 42,
        "xyz_abcdefghijkl_" + "a" * 43,
    ],
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(AuthError) as exc:
        parse_token(token)
    assert exc.value.code == "invalid_key"


def test_roles_expiry_and_rate_limit_are_validated(db: Database) -> None:
    with db.session() as s:
        with pytest.raises(AuthError, match="Unknown role") as exc:
            create_key(s, role="owner", actor="t")
        assert exc.value.code == "invalid_role"
        with pytest.raises(AuthError) as exc:
            create_key(s, role=Role.MATCHER, actor="t", expires_at=datetime.now(UTC) - timedelta(seconds=1))
        assert exc.value.code == "invalid_expiry"
        with pytest.raises(AuthError) as exc:
            create_key(s, role=Role.MATCHER, actor="t", rate_limit=-1)
        assert exc.value.code == "invalid_rate_limit"
        naive = datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1)  # naive: taken as UTC
        info = create_key(s, role=Role.MATCHER, actor="t", expires_at=naive).info
        assert info.expires_at is not None and info.expires_at.tzinfo is not None


def test_revocation_and_listing(db: Database) -> None:
    with db.session() as s:
        keep = create_key(s, role=Role.CURATOR, actor="t").info.key_id
        gone = create_key(s, role=Role.MATCHER, actor="t")
    with db.session() as s:
        first = revoke_key(s, key_id=gone.token, actor="admin")  # the whole token works too
        again = revoke_key(s, key_id=gone.info.key_id, actor="admin")
        assert first.status == again.status == "revoked" and first.revoked_at == again.revoked_at
        with pytest.raises(AuthError) as exc:
            revoke_key(s, key_id="nosuchkeyxyz", actor="admin")
        assert exc.value.code == "unknown_key"
    with db.session() as s:
        assert [k.key_id for k in list_keys(s)] == [keep]
        assert {k.key_id: k.status for k in list_keys(s, include_inactive=True)} == {
            keep: "active",
            gone.info.key_id: "revoked",
        }
        revokes = s.scalars(select(AuditEvent).where(AuditEvent.action == "key.revoke")).all()
        assert len(revokes) == 1 and revokes[0].actor == "admin"


def test_bank_scope_is_by_id_and_survives_a_rename(db: Database) -> None:
    with db.session() as s:
        a = create_bank(s, name="ncii-hk", actor="t")
        b = create_bank(s, name="other", actor="t")
        ids = resolve_banks(s, names=["NCII-HK", "other"], role=Role.MATCHER)
        assert ids == [a.id, b.id]
        info = create_key(s, role=Role.MATCHER, actor="t", bank_ids=ids).info
        update_bank(s, name="ncii-hk", new_name="ncii-hong-kong", actor="t")
        delete_bank(s, name="other", actor="t")
        assert describe_key(s, info)["banks"] == ["ncii-hong-kong", f"#{b.id} (deleted)"]
        with pytest.raises(AuthError) as exc:
            resolve_banks(s, names=["ncii-hong-kong"], role=Role.ADMIN)
        assert exc.value.code == "invalid_scope"
        assert resolve_banks(s, names=None, role=Role.ADMIN) is None
