"""Cases made the way the services make them (the console's pages are tested over these)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from takeback.cases import service as cs
from takeback.cases.models import Purpose
from takeback.evidence import service as ev
from takeback.evidence.signing import Signer
from takeback.portal import service as ps
from takeback.staff import service as staffs
from tests.conftest import encode, synthetic_photo
from tests.web.conftest import Service


def new_case(
    svc: Service,
    *,
    assign_to: str | None,
    jurisdiction: str = "HK",
    alias: str | None = None,
    photo_dir: Path | None = None,
    now: datetime | None = None,
) -> str:
    """A case with consent to hashing and referral and one captured item (a synthetic picture)."""
    signer = Signer.load_or_create(svc.settings.ensure_data_dir())
    with svc.db.session() as s:
        c = cs.create_case(
            s,
            actor="staff:intake",
            jurisdiction=jurisdiction,
            alias=alias,
            consents=(Purpose.HASHING, Purpose.REFERRAL),
            now=now,
        )
        if photo_dir is not None:
            pic = photo_dir / f"shot-{c.reference}.png"
            pic.write_bytes(encode(synthetic_photo(160, 120, seed=len(c.reference)), "PNG"))
            ev.add_file(
                s,
                case=c,
                path=pic,
                actor="staff:intake",
                signer=signer,
                locker=None,
                capture_zone="Asia/Hong_Kong",
                platform="Forum",
                url="https://forum.example/t/1",
                now=now,
            )
        ref = c.reference
    if assign_to is not None:
        with svc.db.session() as s:
            staffs.assign(s, handle=assign_to, actor="staff:boss", case_reference=ref)
    return ref


def portal_case(svc: Service, *, share: bool, data: bytes = b"her photo") -> str:
    f = ps.SubmittedFile(
        kind="photo", sha256=hashlib.sha256(data).hexdigest(), md5=hashlib.md5(data).hexdigest()
    )
    with svc.db.session() as s:
        return ps.submit(
            s,
            files=[f],
            block=False,
            contact=True,
            contact_detail="call <b>me</b>",
            jurisdiction="HK",
            bank_name="PORTAL",
            share=share,
        ).reference
