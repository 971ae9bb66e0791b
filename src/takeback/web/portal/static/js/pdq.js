// PDQ (Meta's 256-bit photo hash) computed the way takeback's Python does it
// (src/takeback/signals/pdq.py), so that a hash made in the victim's browser matches `takeback hash`.
//
// Input is the full-resolution RGBA of the upright image, fed in horizontal strips so that no
// full-size float copy is ever made. Steps, all as the reference does them:
//   luma  = float32(0.299 R + 0.587 G + 0.114 B), unrounded (alpha ignored);
//   blur  = two box-filter passes per axis ("Jarosz" filters, width ceil(n / 128)), then keep the
//           64 x 64 samples at int((k + 0.5) * n / 64). The passes are linear, so, as in Python, they
//           are folded into one band of weights per output line: the vertical pass is 64 weighted
//           sums of a few rows each, the horizontal one 64 x 64 short dot products;
//   quality from the 64 x 64 gradients; 16 x 16 DCT (DC dropped); bit k set where coefficient k
//   exceeds the lower median. The 8 dihedral hashes are sign flips / transposes of the coefficients.
// Canvas scaling is never used: browsers resample differently and the hash would drift.

/** Orientation names, in the order of takeback.signals.pdq.DIHEDRAL_NAMES. */
export const DIHEDRAL_NAMES = Object.freeze([
  'original', 'rotate90', 'rotate180', 'rotate270', 'flipx', 'flipy', 'flip_plus1', 'flip_minus1',
]);
/** Below this quality a hash mostly encodes noise or flat regions (flagged, never dropped). */
export const LOW_QUALITY = 50;
/** The reference hashes images smaller than this in either dimension as all zeros, quality 0. */
export const MIN_DIMENSION = 5;

/**
 * For each of the 64 outputs along an axis of length n: the first input index and the weights of
 * the inputs that feed it (two box passes, then decimation), as in pdq.py's _downsample_matrix.
 */
export function bandWeights(n) {
  const w = Math.floor((n + 127) / 128);
  const half = Math.floor((w + 2) / 2);
  const lo = w - half, hi = half - 1;
  const start = (i) => Math.max(i - lo, 0);
  const end = (i) => Math.min(i + hi, n - 1); // inclusive
  const bands = [];
  for (let k = 0; k < 64; k++) {
    const i = Math.floor(((k + 0.5) * n) / 64);
    const first = start(start(i)), last = end(end(i));
    const weights = new Float64Array(last - first + 1);
    const ci = end(i) - start(i) + 1;
    for (let j = start(i); j <= end(i); j++) {
      const cj = end(j) - start(j) + 1;
      const v = 1 / ci / cj;
      for (let m = start(j); m <= end(j); m++) weights[m - first] += v;
    }
    bands.push({ first, weights });
  }
  return bands;
}

/**
 * Accumulates the vertical pass over strips of RGBA rows; `finish()` returns the PDQ result.
 * Rows must arrive top to bottom (any strip heights).
 */
export class PdqAccumulator {
  constructor(width, height) {
    this.width = width;
    this.height = height;
    this.tiny = width < MIN_DIMENSION || height < MIN_DIMENSION;
    if (this.tiny) return;
    this.rowBands = bandWeights(height);
    // for each row, the (at most a few) outputs k it feeds, found once
    this.rowTargets = Array.from({ length: height }, () => []);
    this.rowBands.forEach(({ first, weights }, k) => {
      for (let r = 0; r < weights.length; r++) this.rowTargets[first + r].push(k, weights[r]);
    });
    this.acc = new Float64Array(64 * width);
    this.luma = new Float32Array(width);
    this.nextRow = 0;
  }

  /** Add `rows` full rows of RGBA (Uint8ClampedArray / Uint8Array, width * 4 bytes per row). */
  addRows(rgba, rows) {
    if (this.tiny) return;
    const w = this.width, luma = this.luma, acc = this.acc;
    for (let r = 0; r < rows; r++, this.nextRow++) {
      const targets = this.rowTargets[this.nextRow];
      if (targets.length === 0) continue;
      let p = r * w * 4;
      for (let x = 0; x < w; x++, p += 4) {
        luma[x] = 0.299 * rgba[p] + 0.587 * rgba[p + 1] + 0.114 * rgba[p + 2];
      }
      for (let t = 0; t < targets.length; t += 2) {
        const base = targets[t] * w, wt = targets[t + 1];
        for (let x = 0; x < w; x++) acc[base + x] += wt * luma[x];
      }
    }
  }

  /**
   * Add `rows` rows of 8-bit luma (a video frame's Y plane): row r starts at `offset + r * stride`
   * in `plane`; `lut` maps each stored value to the luma PDQ sees (e.g. limited to full range).
   */
  addLumaRows(plane, rows, offset, stride, lut) {
    if (this.tiny) return;
    const w = this.width, luma = this.luma, acc = this.acc;
    for (let r = 0; r < rows; r++, this.nextRow++) {
      const targets = this.rowTargets[this.nextRow];
      if (targets.length === 0) continue;
      const p = offset + r * stride;
      for (let x = 0; x < w; x++) luma[x] = lut[plane[p + x]];
      for (let t = 0; t < targets.length; t += 2) {
        const base = targets[t] * w, wt = targets[t + 1];
        for (let x = 0; x < w; x++) acc[base + x] += wt * luma[x];
      }
    }
  }

  /** { hash, quality, dihedral } with hex strings; dihedral in DIHEDRAL_NAMES order. */
  finish({ dihedral = true } = {}) {
    if (this.tiny) {
      const zero = '0'.repeat(64);
      return { hash: zero, quality: 0, dihedral: dihedral ? DIHEDRAL_NAMES.map(() => zero) : null };
    }
    if (this.nextRow !== this.height) throw new Error('PDQ: not every row was added');
    const w = this.width, acc = this.acc;
    const b64 = new Float64Array(64 * 64);
    const colBands = bandWeights(w);
    for (let k = 0; k < 64; k++) {
      for (let j = 0; j < 64; j++) {
        const { first, weights } = colBands[j];
        let s = 0;
        const base = k * w + first;
        for (let x = 0; x < weights.length; x++) s += weights[x] * acc[base + x];
        b64[k * 64 + j] = s;
      }
    }
    return pdqFrom64(b64, dihedral);
  }
}

/** The reference's quality: summed absolute gradients (float32, each truncated) / 90, capped at 100. */
export function qualityOf(b64) {
  const f = Math.fround;
  const b = Float32Array.from(b64);
  const c100 = f(100), c255 = f(255);
  let total = 0;
  for (let i = 0; i < 63; i++) {
    for (let j = 0; j < 64; j++) {
      total += Math.abs(Math.trunc(f(f(f(b[i * 64 + j] - b[(i + 1) * 64 + j]) * c100) / c255)));
      total += Math.abs(Math.trunc(f(f(f(b[j * 64 + i] - b[j * 64 + i + 1]) * c100) / c255)));
    }
  }
  return Math.min(100, Math.floor(total / 90));
}

const DCT = (() => {
  const m = new Float64Array(16 * 64);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      m[i * 64 + j] = Math.sqrt(2 / 64) * Math.cos((Math.PI / 2 / 64) * (i + 1) * (2 * j + 1));
    }
  }
  return m;
})();

/** 16 x 16 coefficients DCT * b64 * DCT^T (row-major Float64Array(256)). */
export function dct16(b64) {
  const tmp = new Float64Array(16 * 64); // DCT * b64
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 64; j++) {
      let s = 0;
      for (let k = 0; k < 64; k++) s += DCT[i * 64 + k] * b64[k * 64 + j];
      tmp[i * 64 + j] = s;
    }
  }
  const out = new Float64Array(256);
  for (let i = 0; i < 16; i++) {
    for (let j = 0; j < 16; j++) {
      let s = 0;
      for (let k = 0; k < 64; k++) s += tmp[i * 64 + k] * DCT[j * 64 + k];
      out[i * 16 + j] = s;
    }
  }
  return out;
}

/** Hex of the 256 bits: bit k (row-major) set where coefficient k exceeds the lower median. */
export function bitsHex(coeffs) {
  const sorted = Float64Array.from(coeffs).sort();
  const median = sorted[127];
  let out = '';
  for (let nib = 0; nib < 64; nib++) {
    const top = 255 - 4 * nib; // the most significant bit of this hex digit is coefficient `top`
    let v = 0;
    for (let b = 0; b < 4; b++) v = (v << 1) | (coeffs[top - b] > median ? 1 : 0);
    out += v.toString(16);
  }
  return out;
}

// (-1)^(u + 1): how DCT basis u + 1 changes sign when its axis is reversed.
const S = Float64Array.from({ length: 16 }, (_, u) => ((u + 1) % 2 ? -1 : 1));

/** The 8 orientations' coefficients, in DIHEDRAL_NAMES order (pdq.py's _dihedral_coeffs). */
export function dihedralCoeffs(c) {
  const make = (fn) => {
    const out = new Float64Array(256);
    for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) out[i * 16 + j] = fn(i, j);
    return out;
  };
  const at = (i, j) => c[i * 16 + j];
  return [
    c,
    make((i, j) => at(j, i) * S[i]), // rotate 90: (c * s[None, :]).T
    make((i, j) => S[i] * at(i, j) * S[j]), // rotate 180
    make((i, j) => S[j] * at(j, i)), // rotate 270: (s[:, None] * c).T
    make((i, j) => S[i] * at(i, j)), // flip x
    make((i, j) => at(i, j) * S[j]), // flip y
    make((i, j) => at(j, i)), // flip +1 (transpose)
    make((i, j) => S[j] * at(j, i) * S[i]), // flip -1 (anti-transpose)
  ];
}

/** PDQ of a 64 x 64 downsample (row-major Float64Array(4096)). */
export function pdqFrom64(b64, dihedral = true) {
  const quality = qualityOf(b64);
  const coeffs = dct16(b64);
  if (!dihedral) return { hash: bitsHex(coeffs), quality, dihedral: null };
  const hashes = dihedralCoeffs(coeffs).map(bitsHex);
  return { hash: hashes[0], quality, dihedral: hashes };
}

/** PDQ of a whole RGBA image in memory (tests and small images; the worker feeds strips). */
export function pdqFromRgba(rgba, width, height, options) {
  const accum = new PdqAccumulator(width, height);
  accum.addRows(rgba, height);
  return accum.finish(options);
}

/** Hamming distance between two 64-hex-digit hashes. */
export function hammingHex(a, b) {
  let d = 0;
  for (let i = 0; i < a.length; i += 8) {
    let x = (parseInt(a.slice(i, i + 8), 16) ^ parseInt(b.slice(i, i + 8), 16)) >>> 0;
    while (x) { x &= x - 1; d++; }
  }
  return d;
}
