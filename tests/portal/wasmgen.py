"""Writes the portal's SHA-256 and MD5 block functions as WebAssembly (``static/js/hashes.wasm``).

Why WebAssembly: the streamed hashes of a large file are bounded by JavaScript's SHA-256 (MD5 runs
beside it in a second worker, and the two share 2 cores with the browser's file reads); the same
unrolled rounds as WebAssembly get native 32-bit rotations, no ``| 0`` and no deoptimisation. Why a
generator and no toolchain: there is no ``wat2wasm`` or compiler on the machines this project builds
on, and the module is small: two functions of straight-line i32 code. Everything in it comes from
here, byte by byte: the binary format by the few helpers below (sections, LEB128, the opcodes used),
the constants by ``codegen`` from their definitions. ``test_wasm`` fails if the committed file
differs from what this writes. Rebuild: ``python tests/portal/wasmgen.py``.

The module (no imports, so it can reach nothing but its own memory):

- ``memory``: 2 pages (128 KiB), fixed (``max`` = ``min``): a state at ``STATE`` (8 or 4 words,
  little-endian i32), the blocks to hash at ``DATA`` (up to ``DATA_BYTES``; ``./wasm-hashes.js``
  copies a chunk in piece by piece, so the memory stays the same for any file size).
- ``sha256(state, data, n)`` / ``md5(state, data, n)``: the compression function over ``n``
  64-byte blocks at ``data``, updating the state words at ``state``. Padding and buffering stay in
  JavaScript (``Sha256`` and ``Md5`` in ``./sha256.js``, ``./md5.js``), so the two paths share every
  line but the rounds.
"""

from __future__ import annotations

from pathlib import Path

if __package__ in (None, ""):  # run as a script: python tests/portal/wasmgen.py
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.portal.codegen import JS_DIR, MD5_K, SHA_K

WASM_NAME = "hashes.wasm"
PAGES = 2
STATE = 0
DATA = 256
DATA_BYTES = 65536  # 1024 blocks a call
assert DATA + DATA_BYTES <= PAGES * 65536

Code = list[int]


# --- the binary format (https://webassembly.github.io/spec/core/binary/) ---------------------------


def uleb(v: int) -> Code:
    out = []
    while True:
        byte, v = v & 0x7F, v >> 7
        out.append(byte | (0x80 if v else 0))
        if not v:
            return out


def sleb(v: int) -> Code:
    out = []
    while True:
        byte, v = v & 0x7F, v >> 7
        done = (v == 0 and not byte & 0x40) or (v == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return out


def vec(items: list[Code]) -> Code:
    return uleb(len(items)) + [b for item in items for b in item]


def name(text: str) -> Code:
    data = list(text.encode("utf-8"))
    return uleb(len(data)) + data


def section(sid: int, content: Code) -> Code:
    return [sid, *uleb(len(content)), *content]


I32 = 0x7F
EMPTY = 0x40  # block type: no result


def get(local: int) -> Code:
    return [0x20, *uleb(local)]


def put(local: int, value: Code) -> Code:
    return [*value, 0x21, *uleb(local)]


def const(v: int) -> Code:
    v &= 0xFFFFFFFF
    return [0x41, *sleb(v - (1 << 32) if v >= 1 << 31 else v)]


def load(base: int, offset: int) -> Code:
    return [*get(base), 0x28, 2, *uleb(offset)]  # i32.load align=4


def store(base: int, offset: int, value: Code) -> Code:
    return [*get(base), *value, 0x36, 2, *uleb(offset)]  # i32.store align=4


def add(*xs: Code) -> Code:
    out = list(xs[0])
    for x in xs[1:]:
        out += [*x, 0x6A]  # i32.add
    return out


def sub(a: Code, b: Code) -> Code:
    return [*a, *b, 0x6B]


def band(a: Code, b: Code) -> Code:
    return [*a, *b, 0x71]


def bor(a: Code, b: Code) -> Code:
    return [*a, *b, 0x72]


def xor(*xs: Code) -> Code:
    out = list(xs[0])
    for x in xs[1:]:
        out += [*x, 0x73]
    return out


def shr(a: Code, n: int) -> Code:
    return [*a, *const(n), 0x76]  # i32.shr_u


def rotl(a: Code, n: int) -> Code:
    return [*a, *const(n), 0x77]


def rotr(a: Code, n: int) -> Code:
    return [*a, *const(n), 0x78]


# --- the function ----------------------------------------------------------------------------------

# locals: the 3 parameters, then the state h0..h7, the working variables a..h (renamed round by round,
# never moved), the 16 schedule words, h + K + W, S1 + Ch, T1, and two slots for a ^ b (this round's is
# the next round's b ^ c)
P_STATE, P_DATA, P_N = 0, 1, 2
H = list(range(3, 11))
V = list(range(11, 19))
W = list(range(19, 35))
HKW, U, T = 35, 36, 37
AB = (38, 39)
N_LOCALS = 40 - 3


# The sigma functions as nested rotations, rotr(rotr(rotr(x, 14) ^ x, 5) ^ x, 6) for Sigma1 and so on:
# 3 rotations and 2 xors, each on one register, where the textbook form needs 3 copies of x first.
# V8 turns the textbook form into about 15 % more instructions; this one ran 12 % faster (Node 20).
def sigma1(x: Code) -> Code:  # rotr 6 ^ rotr 11 ^ rotr 25
    return rotr(xor(rotr(xor(rotr(x, 14), x), 5), x), 6)


def sigma0(x: Code) -> Code:  # rotr 2 ^ rotr 13 ^ rotr 22
    return rotr(xor(rotr(xor(rotr(x, 9), x), 11), x), 2)


def small_sigma0(x: Code) -> Code:  # rotr 7 ^ rotr 18 ^ shr 3
    return xor(rotr(xor(rotr(x, 11), x), 7), shr(x, 3))


def small_sigma1(x: Code) -> Code:  # rotr 17 ^ rotr 19 ^ shr 10
    return xor(rotr(xor(rotr(x, 2), x), 17), shr(x, 10))


def _big_endian(word: Code) -> Code:
    """bswap(x) = (rotr(x, 8) & 0xff00ff00) | (rotl(x, 8) & 0x00ff00ff); WebAssembly has no bswap."""
    return bor(band(rotr(word, 8), const(0xFF00FF00)), band(rotl(word, 8), const(0x00FF00FF)))


def _round(i: int, consts: list[int]) -> Code:
    a, b, _c, d, e, f, g, h = (V[(j - i) % 8] for j in range(8))  # c only as the last round's b
    w = W[i % 16]
    out: Code = []
    if i >= 16:
        x, y, w7 = W[(i - 15) % 16], W[(i - 2) % 16], W[(i - 7) % 16]
        out += put(w, add(add(get(w), get(w7)), add(small_sigma0(get(x)), small_sigma1(get(y)))))
    # T1 = (h + K + W) + (S1(e) + Ch(e, f, g)): the first sum does not wait for e
    out += put(HKW, add(get(h), const(consts[i]), get(w)))
    out += put(U, add(sigma1(get(e)), xor(get(g), band(get(e), xor(get(f), get(g))))))
    out += put(T, add(get(HKW), get(U)))
    out += put(d, add(get(d), get(T)))
    ab, bc = AB[i % 2], AB[(i + 1) % 2]
    out += put(ab, xor(get(a), get(b)))
    maj = xor(get(b), band(get(ab), get(bc)))  # Maj(a, b, c) = b ^ ((a ^ b) & (b ^ c))
    out += put(h, add(get(T), add(sigma0(get(a)), maj)))
    return out


def _loop(body: Code) -> Code:
    """``body`` once per block: block $done (n == 0: nothing) / loop ... br_if while blocks remain."""
    body = body + put(P_DATA, add(get(P_DATA), const(64))) + put(P_N, sub(get(P_N), const(1)))
    return [0x02, EMPTY, *get(P_N), 0x45, 0x0D, 0, 0x03, EMPTY, *body, *get(P_N), 0x0D, 0, 0x0B, 0x0B]


def sha256_body(consts: list[int]) -> Code:
    code: Code = []
    for k in range(8):
        code += put(H[k], load(P_STATE, 4 * k))
    body: Code = []
    for k in range(16):
        body += put(W[k], _big_endian(load(P_DATA, 4 * k)))
    for k in range(8):
        body += put(V[k], get(H[k]))
    body += put(AB[1], xor(get(V[1]), get(V[2])))  # b ^ c for round 0
    for i in range(64):
        body += _round(i, consts)
    # after 64 rounds (a multiple of 8) the names are back in place: V[k] is the k-th working variable
    for k in range(8):
        body += put(H[k], add(get(H[k]), get(V[k])))
    code += _loop(body)
    for k in range(8):
        code += store(P_STATE, 4 * k, get(H[k]))
    locals_decl = vec([[*uleb(N_LOCALS), I32]])
    return [*locals_decl, *code, 0x0B]


# MD5 (RFC 1321): the state a0..d0, the working variables a..d renamed round by round, the 16 message
# words (little-endian, as WebAssembly loads them: no byte swap)
MD5_H = list(range(3, 7))
MD5_V = list(range(7, 11))
MD5_X = list(range(11, 27))
MD5_LOCALS = 27 - 3
MD5_SHIFTS = [7, 12, 17, 22] * 4 + [5, 9, 14, 20] * 4 + [4, 11, 16, 23] * 4 + [6, 10, 15, 21] * 4


def md5_body(consts: list[int]) -> Code:
    code: Code = []
    for k in range(4):
        code += put(MD5_H[k], load(P_STATE, 4 * k))
    body: Code = []
    for k in range(16):
        body += put(MD5_X[k], load(P_DATA, 4 * k))
    for k in range(4):
        body += put(MD5_V[k], get(MD5_H[k]))
    for i in range(64):
        a, b, c, d = (MD5_V[(j - i) % 4] for j in range(4))
        if i < 16:  # F = (b & c) | (~b & d), as d ^ (b & (c ^ d))
            f, m = xor(get(d), band(get(b), xor(get(c), get(d)))), i
        elif i < 32:  # G = (b & d) | (c & ~d), as c ^ (d & (b ^ c))
            f, m = xor(get(c), band(get(d), xor(get(b), get(c)))), (5 * i + 1) % 16
        elif i < 48:  # H
            f, m = xor(get(b), get(c), get(d)), (3 * i + 5) % 16
        else:  # I = c ^ (b | ~d)
            f, m = xor(get(c), bor(get(b), xor(get(d), const(0xFFFFFFFF)))), (7 * i) % 16
        # (a + K + X) does not wait for the last round; then a = b + rotl(that + f, s)
        body += put(a, add(rotl(add(add(get(a), const(consts[i]), get(MD5_X[m])), f), MD5_SHIFTS[i]), get(b)))
    for k in range(4):
        body += put(MD5_H[k], add(get(MD5_H[k]), get(MD5_V[k])))
    code += _loop(body)
    for k in range(4):
        code += store(P_STATE, 4 * k, get(MD5_H[k]))
    return [*vec([[*uleb(MD5_LOCALS), I32]]), *code, 0x0B]


def hashes_wasm(sha256_consts: list[int] = SHA_K, md5_consts: list[int] = MD5_K) -> bytes:
    """The module; constants other than the hashes' own are for tests (a module that hashes wrong)."""
    functype = [0x60, *vec([[I32], [I32], [I32]]), *vec([])]  # (i32, i32, i32) -> ()
    bodies = [sha256_body(sha256_consts), md5_body(md5_consts)]
    exports = [[*name("memory"), 0x02, 0], [*name("sha256"), 0x00, 0], [*name("md5"), 0x00, 1]]
    module = [
        *[0x00, 0x61, 0x73, 0x6D, 0x01, 0x00, 0x00, 0x00],  # \0asm, version 1
        *section(1, vec([functype])),  # types
        *section(3, vec([uleb(0), uleb(0)])),  # functions: two, both of type 0
        *section(5, vec([[0x01, *uleb(PAGES), *uleb(PAGES)]])),  # memory: min = max = PAGES
        *section(7, vec(exports)),
        *section(10, vec([[*uleb(len(b)), *b] for b in bodies])),  # code
    ]
    return bytes(module)


GENERATED = {WASM_NAME: hashes_wasm}

if __name__ == "__main__":
    for fname, make in GENERATED.items():
        (JS_DIR / fname).write_bytes(make())
        print("wrote", JS_DIR / fname)
