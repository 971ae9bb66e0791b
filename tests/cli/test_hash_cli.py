"""``takeback hash`` end to end, as a user runs it: a real process, real files, bad files beside good."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import pytest

from tests.conftest import encode, synthetic_photo

TAKEBACK = [sys.executable, "-m", "takeback.cli.main"]
FIELDS = ["path", "size", "media_type", "sha256", "md5", "pdq", "pdq_quality", "error"]
BORDER_VIDEO_FIELDS = [  # CSV columns for what only bordered images and videos have
    "pdq_cropped",
    "pdq_cropped_quality",
    "border",
    "vpdq_frames",
    "vpdq_cropped_frames",
    "duration_s",
    "frame_count",
    "partial",
]


def run(*args: str, obey_permissions: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real CLI. ``obey_permissions`` drops root's power to read any file, where needed."""
    env = {**os.environ, "TAKEBACK_DATA_DIR": str(Path(tempfile.gettempdir()) / "tb-cli-test")}
    prefix: list[str] = []
    if obey_permissions and os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot make a file unreadable")
        caps = "-dac_override,-dac_read_search"
        prefix = [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]
    return subprocess.run(
        [*prefix, *TAKEBACK, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def bomb_png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(bytes(100)))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def messy_folder(shared_data: Path) -> Path:
    """Good images mixed with every kind of bad input the foundation issue lists."""
    root = Path(tempfile.mkdtemp(prefix="tb-messy-"))
    os.chmod(root, 0o755)
    good = root / "good"
    good.mkdir()
    (good / "a.jpg").write_bytes(encode(synthetic_photo(320, 240, seed=1), "JPEG"))
    (good / "b.png").write_bytes(encode(synthetic_photo(300, 200, seed=2), "PNG"))
    shutil.copy(shared_data / "pdq" / "bridge-mods" / "aaa-orig.jpg", good / "bridge.jpg")
    (root / "zero.jpg").write_bytes(b"")
    full = encode(synthetic_photo(640, 480, seed=3), "JPEG")
    (root / "truncated.jpg").write_bytes(full[: len(full) // 3])
    (root / "random.jpg").write_bytes(os.urandom(4096))
    (root / "bomb.png").write_bytes(bomb_png())
    (root / "doc.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n")
    (root / "notes.txt").write_text("just some notes\n")
    secret = root / "unreadable.jpg"
    secret.write_bytes(encode(synthetic_photo(50, 50), "JPEG"))
    secret.chmod(0)
    loops = root / "loops"
    loops.mkdir()
    os.symlink("b-link", loops / "a-link")
    os.symlink("a-link", loops / "b-link")
    os.symlink("..", loops / "up")  # a folder link back to an ancestor
    odd = os.path.join(os.fsencode(root), b"caf\xe9-\xff.jpg")
    with open(odd, "wb") as fh:
        fh.write(encode(synthetic_photo(200, 150, seed=4), "JPEG"))
    for p in root.rglob("*"):
        if p.is_dir() and not p.is_symlink():
            os.chmod(p, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _records(stdout: str) -> dict[str, dict[str, object]]:
    recs = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    return {str(r["path"]).rsplit("/", 1)[-1]: r for r in recs}


def test_bad_files_get_their_own_error_and_the_rest_is_hashed(messy_folder: Path) -> None:
    proc = run("hash", str(messy_folder), "--format", "jsonl", "--jobs", "2", obey_permissions=True)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    recs = _records(proc.stdout)
    for rec in recs.values():
        assert list(rec) == FIELDS
    for name in ("a.jpg", "b.png", "bridge.jpg", "caf\\xe9-\\xff.jpg"):
        rec = recs[name]
        assert rec["error"] is None, rec
        assert isinstance(rec["pdq"], str) and len(rec["pdq"]) == 64 and rec["pdq"] == rec["pdq"].lower()
        assert len(str(rec["sha256"])) == 64 and len(str(rec["md5"])) == 32
    expected_errors = {
        "zero.jpg": "empty_file",
        "truncated.jpg": "truncated_image",
        "random.jpg": "unsupported_type",
        "bomb.png": "too_many_pixels",
        "doc.pdf": "unsupported_type",
        "notes.txt": "unsupported_type",
        "a-link": "symlink_loop",
        "b-link": "symlink_loop",
        "up": "symlink_loop",
        "unreadable.jpg": "permission_denied",
    }
    for name, code in expected_errors.items():
        err = recs[name]["error"]
        assert isinstance(err, dict) and err["code"] == code, (name, recs[name])
        assert err["message"]
    assert recs["doc.pdf"]["sha256"] and recs["notes.txt"]["md5"]  # still identified by bytes
    assert recs["doc.pdf"]["media_type"] == "application/pdf"


def test_exit_zero_and_csv_when_everything_hashes(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / f"img{i}.webp").write_bytes(encode(synthetic_photo(120, 90, seed=i), "WEBP"))
    proc = run("hash", str(tmp_path), "--format", "csv", "--dihedral")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert len(rows) == 3
    assert list(rows[0]) == [*FIELDS[:-1], "pdq_dihedral", *BORDER_VIDEO_FIELDS, "error"]
    for row in rows:
        hashes = row["pdq_dihedral"].split()
        assert len(hashes) == 8 and hashes[0] == row["pdq"] and row["error"] == ""


def test_video_gets_file_hashes_without_error(shared_data: Path) -> None:
    video = sorted((shared_data / "video").glob("*.mp4"))[0]
    proc = run("hash", str(video), "-f", "jsonl")
    assert proc.returncode == 0, proc.stderr
    (rec,) = _records(proc.stdout).values()
    assert str(rec["media_type"]).startswith("video/")
    assert rec["sha256"] and rec["md5"] and rec["pdq"] is None and rec["error"] is None


def test_parallel_and_serial_agree(shared_data: Path) -> None:
    folder = shared_data / "pdq" / "bridge-mods"
    one = run("hash", str(folder), "-f", "jsonl", "-j", "1")
    two = run("hash", str(folder), "-f", "jsonl", "-j", "2")
    assert one.returncode == two.returncode == 0
    assert one.stdout == two.stdout


def test_usage_errors_exit_2() -> None:
    assert run("hash").returncode == 2
    assert run("hash", ".", "--format", "xml").returncode == 2
    assert run("hash", ".", "--jobs", "0").returncode == 2


def test_missing_path_is_a_record_not_a_crash(tmp_path: Path) -> None:
    proc = run("hash", str(tmp_path / "nope.jpg"), "-f", "jsonl")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    (rec,) = _records(proc.stdout).values()
    assert rec["error"]["code"] == "not_found"  # type: ignore[index]


def test_table_output_is_readable(shared_data: Path) -> None:
    proc = run("hash", str(shared_data / "pdq" / "misc-images" / "small.jpg"), "-f", "table")
    assert proc.returncode == 0
    assert "low quality" in proc.stdout and "pdq" in proc.stdout


def test_help_reads_well() -> None:
    proc = run("--help")
    assert proc.returncode == 0 and "hash" in proc.stdout
    proc = run("hash", "--help")
    assert "--dihedral" in proc.stdout and "--jobs" in proc.stdout


def test_a_walk_lists_pipes_devices_and_links_out_of_the_folder_and_opens_none(tmp_path: Path) -> None:
    """A FIFO inside would hang a read forever, ``/dev/zero`` never ends, ``root -> /`` would hash
    the examiner's machine: each is one error record, and the rest is hashed."""
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(synthetic_photo(64, 64, seed=5), "PNG"))
    os.mkfifo(folder / "pipe.jpg")
    (folder / "root").symlink_to("/")
    (folder / "zero.jpg").symlink_to("/dev/zero")
    (folder / "hosts.jpg").symlink_to("../../../../../../../etc/hostname")
    (folder / "inside.png").symlink_to("a.png")
    expected = {
        "pipe.jpg": "not_a_file",
        "root": "symlink_outside_source",
        "zero.jpg": "symlink_outside_source",
        "hosts.jpg": "symlink_outside_source",
    }
    try:
        os.mknod(folder / "null.jpg", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
        expected["null.jpg"] = "not_a_file"
    except OSError:
        pass  # no CAP_MKNOD here: the pipe and the /dev/zero link stand for devices
    proc = run("hash", str(folder), "--format", "jsonl", "--jobs", "1")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    recs = _records(proc.stdout)
    assert set(recs) == {"a.png", "inside.png", *expected}
    assert recs["a.png"]["error"] is None and recs["inside.png"]["pdq"] == recs["a.png"]["pdq"]
    for name, code in expected.items():
        err = recs[name]["error"]
        assert isinstance(err, dict) and err["code"] == code, (name, recs[name])
        assert recs[name]["sha256"] is None  # never read


def test_hostile_names_cannot_forge_terminal_lines(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    evil = "a\x1b[31mRED\nfake.jpg  hashed\u202egnp.exe[bold]x"
    (folder / evil).write_bytes(b"not an image")
    proc = run("hash", str(folder), "--format", "table")
    assert "\x1b" not in proc.stdout and "\u202e" not in proc.stdout
    assert "a\\x1b[31mRED\\nfake.jpg  hashed\\u202egnp.exe[bold]x" in proc.stdout
    jsonl = _records(run("hash", str(folder), "--format", "jsonl").stdout)
    assert evil in jsonl  # machine output keeps the name exactly (JSON escapes it)
