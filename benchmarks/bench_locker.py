"""Evidence locker and bundle throughput, against plain SHA-256 of the same file in the same run.

    .venv/bin/python benchmarks/bench_locker.py [--mib 512]

Baselines: hashlib SHA-256 over the file in 1 MiB reads (what any capture must at least do), and a
plain copy of the file with fsync (the disk: the locker must write every byte).
Measured: encrypting into the locker (AES-256-GCM chunks + SHA-256 while streaming), decrypting
(verify every chunk), exporting a bundle with the original, verifying that bundle, and unlocking
(Argon2id at the default cost). Peak Python heap (tracemalloc) shows memory stays at a few chunks.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import tempfile
import time
import tracemalloc
from pathlib import Path


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=512)
    args = ap.parse_args()
    from takeback.cases import service as cs
    from takeback.cases.models import Purpose
    from takeback.evidence import service as ev
    from takeback.evidence.bundle import export_bundle, verify_bundle
    from takeback.evidence.locker import KdfParams, Locker
    from takeback.evidence.signing import Signer
    from takeback.store import open_database

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "video.bin"
        block = os.urandom(1 << 20)
        with open(src, "wb") as fh:
            for _ in range(args.mib):
                fh.write(block)
        size = args.mib * (1 << 20)

        def sha_only() -> str:
            h = hashlib.sha256()
            with open(src, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
            return h.hexdigest()

        def copy_fsync() -> None:
            with open(src, "rb") as f, open(root / "copy.bin", "wb") as g:
                while chunk := f.read(1 << 20):
                    g.write(chunk)
                g.flush()
                os.fsync(g.fileno())

        sha_only()  # warm the page cache for both
        _, t_base = timed(sha_only)
        _, t_copy = timed(copy_fsync)
        (root / "copy.bin").unlink()
        phrase = "benchmark passphrase"
        _, t_unlock_create = timed(lambda: Locker.create(root / "locker", phrase, kdf=KdfParams()))
        lk, t_unlock = timed(lambda: Locker.open(root / "locker", phrase))
        tracemalloc.start()
        stored, t_enc = timed(lambda: lk.store_file(src))
        _, peak_enc = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        out = root / "back.bin"
        _, t_dec = timed(lambda: lk.decrypt_to(stored.blob_id, out, expected_sha256=stored.sha256))
        _, peak_dec = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        out.unlink()

        db = open_database(f"sqlite:///{root / 'tb.db'}")
        signer = Signer.generate()
        with db.session() as s:
            c = cs.create_case(s, actor="bench", jurisdiction="HK", consents=(Purpose.HASHING,))
            ref = c.reference
            _, t_add = timed(
                lambda: ev.add_file(
                    s, case=c, path=src, actor="bench", signer=signer, locker=lk, capture_zone="UTC"
                )
            )
        bundle = root / "b.zip"
        _, t_bundle = timed(
            lambda: export_bundle(db, reference=ref, out=bundle, signer=signer, actor="bench", locker=lk)
        )
        rep, t_verify = timed(lambda: verify_bundle(bundle))
        assert rep.ok
        db.dispose()

    mibps = lambda t: args.mib / t  # noqa: E731
    print(f"machine: {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    print(f"file: {args.mib} MiB random bytes")
    print(f"baseline sha256 only      {mibps(t_base):8.0f} MiB/s")
    print(f"baseline copy + fsync     {mibps(t_copy):8.0f} MiB/s (the disk; the locker writes every byte)")
    print(
        f"locker encrypt (+sha256)  {mibps(t_enc):8.0f} MiB/s  ratio {t_enc / t_base:.2f}x baseline time  "
        f"peak heap {peak_enc / 2**20:.1f} MiB"
    )
    print(
        f"locker decrypt (verified) {mibps(t_dec):8.0f} MiB/s  ratio {t_dec / t_base:.2f}x  "
        f"peak heap {peak_dec / 2**20:.1f} MiB"
    )
    print(
        f"evidence add (fingerprint+encrypt+custody) {mibps(t_add):6.0f} MiB/s  ratio {t_add / t_base:.2f}x"
    )
    print(f"bundle export with original  {mibps(t_bundle):8.0f} MiB/s  ratio {t_bundle / t_base:.2f}x")
    print(f"bundle verify                {mibps(t_verify):8.0f} MiB/s  ratio {t_verify / t_base:.2f}x")
    print(f"unlock (Argon2id t=3, 64 MiB) {t_unlock * 1000:.0f} ms; create {t_unlock_create * 1000:.0f} ms")
    print(f"(size check: {size:,} bytes)")


if __name__ == "__main__":
    main()
