"""Re-checking watched pages (issue 20 part 1): pages/min and images/min through `check_page`.

A local site on loopback (reached as ``site.test`` through the fetcher's test-only DNS stand-in, so
the production policy runs) serves ``--pages`` pages of 5 images each (640x480 JPEGs, one of them
the case's). Baseline, same run: fetching the same page and images with ``fetch_bytes`` only (no
parsing, decoding, hashing), so the ratio is what the check adds to the network work. One process,
sequential checks (as ``takeback watch run`` does). RSS is read before and after: memory flat means
no image bytes are kept.

    PYTHONPATH=src:. .venv/bin/python benchmarks/bench_watch.py --pages 200
"""

from __future__ import annotations

import argparse
import http.server
import resource
import threading
import time

from tests.conftest import encode, synthetic_photo

from takeback.net.fetch import fetch_bytes, resolve_as_public
from takeback.signals.fingerprint import fingerprint_bytes
from takeback.watch.check import CaseFingerprint, check_page, image_urls


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=200)
    args = ap.parse_args()
    images = [encode(synthetic_photo(640, 480, seed=s), "JPEG", quality=85) for s in range(5)]
    case_fp = fingerprint_bytes(images[0])
    fps = [CaseFingerprint("item", 1, case_fp.hex("sha256"), case_fp.hex("pdq"))]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.startswith("/p/"):
                n = self.path[3:]
                body = "".join(f'<img src="/i/{n}/{k}.jpg">' for k in range(5)).encode()
                ctype = "text/html"
            else:
                body, ctype = images[int(self.path.rsplit("/", 1)[1][0])], "image/jpeg"
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://site.test:{server.server_address[1]}"
    with resolve_as_public("site.test", "127.0.0.1"):
        check_page(f"{base}/p/warm", fingerprints=fps)
        t0 = time.perf_counter()
        for n in range(args.pages):
            data, _ = fetch_bytes(f"{base}/p/{n}")
            for u in image_urls(data.decode(), f"{base}/p/{n}"):
                fetch_bytes(u)
        baseline = time.perf_counter() - t0
        before = rss_mib()
        t0 = time.perf_counter()
        matched = 0
        for n in range(args.pages):
            r = check_page(f"{base}/p/{n}", fingerprints=fps)
            matched += len(r.matched)
        took = time.perf_counter() - t0
        after = rss_mib()
    server.shutdown()
    assert matched == args.pages
    print(f"pages: {args.pages}, 5 images each")
    print(f"fetch only (baseline): {args.pages / baseline * 60:.0f} pages/min")
    print(f"check_page: {args.pages / took * 60:.0f} pages/min, {5 * args.pages / took * 60:.0f} images/min")
    print(f"check / fetch-only time: {took / baseline:.2f}x; max RSS {before:.0f} -> {after:.0f} MiB")


if __name__ == "__main__":
    main()
