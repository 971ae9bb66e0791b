// The portal's hashing worker (a module worker; started by ./hashing.js, never by a page directly).
//
// Everything slow happens here, off the page's thread: reading the file, MD5 and SHA-256, decoding
// and PDQ. The file's bytes never leave this worker; only hashes, sizes and messages are posted back.
//
// Messages in:  { id, op: 'file', file, maxPixels, maxImageBytes, streamAbove, dihedral, hashEngine }
//               { id, op: 'stream', file, port?, hashEngine, streamReader? }   read + SHA-256 (+ MD5 when
//                 there is no port)
//               { id, op: 'follow', port, hashEngine }   MD5 of the chunks the 'stream' worker sends
//               { id, op: 'vpdq-frame', frame }     PDQ of one video frame (a transferred VideoFrame)
// Messages out: { id, type: 'progress', stage, done, total }
//               { id, type: 'result', result }   (op 'file': a result, or { stream: true, result })
//               { id, type: 'digest', digests: { sha256?, md5?, sha256_engine?, md5_engine?, stream_reader? } }
//               { id, type: 'frame', hash, quality }
//
// A large file is streamed by two workers joined by a MessageChannel: one reads each chunk once,
// hashes SHA-256 and hands the chunk over (transferred, not copied) to the other, which hashes MD5
// while the first reads and hashes the next, and hands the buffer back to be filled again. Three
// 8-MiB buffers circulate (a BYOB reader fills them in place), so memory is flat for any size.
//
// The rounds of both hashes run in WebAssembly (./wasm-hashes.js) where the browser allows it, else
// in JavaScript (`hashEngine: 'js'` in a message asks for JavaScript, for tests and benchmarks).

import { Md5 } from './md5.js';
import { Sha256 } from './sha256.js';
import { loadWasmBlocks } from './wasm-hashes.js';
import { PdqAccumulator, pdqFromRgba } from './pdq.js';
import { HEAD_BYTES, sniff } from './sniff.js';
import { problem } from './messages.js';

const CHUNK = 8 * 1024 * 1024;
const STRIP_BYTES = 8 * 1024 * 1024; // RGBA read back from the canvas per strip

// Compile the hot code now, before the first file arrives: V8 optimises a function only after it
// has run a while, and the first 12-MP photo would otherwise pay ~0.3 s for that.
const warm = new Uint8Array(256 * 1024);
new Sha256().update(warm).hex();
new Md5().update(warm).hex();
pdqFromRgba(warm, 256, 256);

// The WebAssembly block functions { sha256, md5 }, or null (no WebAssembly, or the CSP forbids it).
let wasm = null;
const wasmReady = loadWasmBlocks().then((fns) => {
  if (fns) {
    new Sha256(fns.sha256).update(warm).hex(); // to the optimising tier, as above
    new Md5(fns.md5).update(warm).hex();
  }
  wasm = fns;
});

/** Hashers with WebAssembly rounds unless unavailable or `engine` is 'js'. */
function newSha256(engine) {
  return engine !== 'js' && wasm ? new Sha256(wasm.sha256) : new Sha256();
}

function newMd5(engine) {
  return engine !== 'js' && wasm ? new Md5(wasm.md5) : new Md5();
}

function engineOf(hasher) {
  return wasm && (hasher.blocks === wasm.sha256 || hasher.blocks === wasm.md5) ? 'wasm' : 'js';
}

self.onmessage = async (event) => {
  const msg = event.data;
  const post = (m) => self.postMessage({ id: msg.id, ...m });
  try {
    await wasmReady; // a few milliseconds, once per worker
    if (msg.op === 'file') post({ type: 'result', result: await hashFile(msg, post) });
    else if (msg.op === 'stream') post({ type: 'digest', digests: await stream(msg, post) });
    else if (msg.op === 'follow') post({ type: 'digest', digests: await follow(msg.port, msg.hashEngine) });
    else if (msg.op === 'vpdq-frame') post({ type: 'frame', ...(await pdqOfVideoFrame(msg.frame)) });
    else throw new Error(`unknown op ${msg.op}`);
  } catch (err) {
    // An unexpected failure (a bug, or the browser out of memory): one file fails, the rest go on.
    post({ type: 'failure', error: err.problem || problem('internal', { detail: String(err && err.message || err) }) });
  }
};

async function readBytes(blob) {
  try {
    return new Uint8Array(await blob.arrayBuffer());
  } catch (err) {
    throw readFailure(err);
  }
}

function readFailure(err) {
  const e = new Error('read');
  e.problem = problem('read_error', { detail: err && err.name || '' });
  return e;
}

// A stream's 8-MiB buffers, allocated once: one filled and hashed here while the MD5 worker hashes
// one and holds one ready, then handed back to be filled again. Memory is 24 MiB for any file size.
const BUFFERS = 3;

/**
 * The file read into the buffers it is given: `next(buffer)` resolves to { buffer, filled, end }.
 * A BYOB reader on the file's byte stream fills our buffers in place; where the browser has none
 * (or `how` is 'slice', for tests), each chunk is a File.slice read into a new buffer.
 */
function chunkReader(file, how) {
  let reader = null;
  if (how !== 'slice') {
    try {
      reader = file.stream().getReader({ mode: 'byob' });
    } catch (err) {
      reader = null; // not a byte stream here
    }
  }
  if (!reader) {
    let at = 0;
    return {
      kind: 'slice',
      async next() {
        const bytes = await readBytes(file.slice(at, Math.min(file.size, at + CHUNK)));
        at += bytes.length;
        return { buffer: bytes.buffer, filled: bytes.length, end: at >= file.size || bytes.length === 0 };
      },
    };
  }
  return {
    kind: 'byob',
    async next(buffer) {
      let filled = 0;
      try {
        while (filled < buffer.byteLength) {
          const { value, done } = await reader.read(new Uint8Array(buffer, filled, buffer.byteLength - filled));
          if (value) buffer = value.buffer; // the reader hands the (transferred) buffer back
          else buffer = new ArrayBuffer(CHUNK);
          if (done) return { buffer, filled, end: true };
          filled += value.byteLength;
        }
      } catch (err) {
        throw readFailure(err);
      }
      return { buffer, filled, end: false };
    },
  };
}

/** SHA-256 (and MD5, alone or in the follower) of a file read once in chunks. */
async function stream({ file, port, hashEngine: engine, streamReader }, post) {
  const sha = newSha256(engine);
  const md5 = port ? null : newMd5(engine);
  const total = file.size;
  const chunks = chunkReader(file, streamReader);
  const free = [];
  let made = 0;
  let wake = null;
  if (port) {
    port.onmessage = (e) => { // a buffer the MD5 worker is done with
      free.push(e.data);
      if (wake) { wake(); wake = null; }
    };
  }
  // a buffer to fill (a slice read brings its own: then this is only a place among the BUFFERS)
  const slot = async () => {
    while (!free.length && made >= BUFFERS) await new Promise((resolve) => { wake = resolve; });
    if (free.length) return free.pop();
    made += 1;
    return chunks.kind === 'byob' ? new ArrayBuffer(CHUNK) : null;
  };
  let done = 0;
  for (;;) {
    const chunk = await chunks.next(await slot());
    if (chunk.filled) {
      const bytes = new Uint8Array(chunk.buffer, 0, chunk.filled);
      sha.update(bytes);
      if (md5) md5.update(bytes);
      done += chunk.filled;
      post({ type: 'progress', stage: 'hashing', done, total });
    }
    if (port && chunk.filled) port.postMessage({ buffer: chunk.buffer, length: chunk.filled }, [chunk.buffer]);
    else free.push(chunk.buffer);
    if (chunk.end) break;
  }
  if (port) {
    port.postMessage(null); // end of file
    port.onmessage = null;
    port.close();
  }
  const out = { sha256: sha.hex(), sha256_engine: engineOf(sha), stream_reader: chunks.kind };
  return md5 ? { ...out, md5: md5.hex(), md5_engine: engineOf(md5) } : out;
}

/** MD5 of the chunks another worker's `stream` sends over `port`, each buffer sent back after. */
function follow(port, engine) {
  const md5 = newMd5(engine);
  return new Promise((resolve) => {
    port.onmessage = (e) => {
      if (e.data === null) {
        port.close();
        resolve({ md5: md5.hex(), md5_engine: engineOf(md5) });
        return;
      }
      const { buffer, length } = e.data;
      md5.update(new Uint8Array(buffer, 0, length));
      port.postMessage(buffer, [buffer]);
    };
  });
}

async function hashFile(msg, post) {
  const { file } = msg;
  const t0 = performance.now();
  const base = { name: file.name, size: file.size, type: file.type || null };
  const headBlob = file.slice(0, Math.min(file.size, HEAD_BYTES));
  let head;
  try {
    head = await readBytes(headBlob);
  } catch (err) {
    return { ...base, kind: 'other', format: null, error: err.problem };
  }
  const info = sniff(head);
  const result = {
    ...base,
    format: info.mime,
    kind: info.kind,
    md5: null,
    sha256: null,
    sha256_engine: null,
    md5_engine: null,
    pdq: null,
    pdq_quality: null,
    pdq_dihedral: null,
    vpdq: null,
    vpdq_frames: null,
    width: info.width ?? null,
    height: info.height ?? null,
    error: null,
    note: null,
  };
  if (info.kind === 'empty') {
    digestsOf(head, msg.hashEngine, result);
    return { ...result, kind: 'other', error: problem('empty_file') };
  }

  const wantsPixels = info.kind === 'photo' && info.decodable;
  if (!wantsPixels || file.size > msg.maxImageBytes) {
    if (info.kind === 'photo' && !info.decodable) result.error = problem('not_decodable', { format: info.label });
    else if (info.kind === 'photo') result.error = problem('image_file_too_large', { limit: msg.maxImageBytes });
    else if (info.kind === 'video') result.note = problem('video_hashes_only', { format: info.label });
    else result.error = problem('not_an_image', { format: info.label });
    if (file.size > msg.streamAbove) return { stream: true, result };
    // small enough to hash here in one go
    const bytes = await readOr(file, result);
    if (!bytes) return result;
    digestsOf(bytes, msg.hashEngine, result);
    return finish(result, t0);
  }

  // A photo: refuse a decompression bomb from its header, before anything is decoded.
  if (info.width == null && file.size > head.length) {
    Object.assign(info, sniff(await readBytes(file.slice(0, Math.min(file.size, 16 * HEAD_BYTES)))));
  }
  const pixels = info.width * info.height;
  const refusal = info.width == null || info.height == null
    ? problem('no_dimensions', { format: info.label })
    : pixels === 0
      ? problem('no_pixels', { format: info.label })
      : pixels >= msg.maxPixels
        ? problem('too_many_pixels', { width: info.width, height: info.height, limit: msg.maxPixels })
        : null;
  // The browser decodes on its own threads: start it now and hash the bytes meanwhile.
  const timings = {};
  let t = performance.now();
  const decoding = refusal ? null : createImageBitmap(file, {
    imageOrientation: 'from-image', // EXIF orientation applied, as `takeback hash` does
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'none', // the stored colours, as Pillow reads them (no ICC transform)
  }).then((bitmap) => ({ bitmap }), () => ({ bitmap: null }));
  post({ type: 'progress', stage: 'reading', done: 0, total: file.size });
  const bytes = await readOr(file, result);
  timings.read_ms = lap();
  if (bytes) {
    post({ type: 'progress', stage: 'hashing', done: 0, total: file.size });
    digestsOf(bytes, msg.hashEngine, result);
    timings.digest_ms = lap();
  }
  if (refusal || !bytes) {
    decoding?.then(({ bitmap }) => bitmap?.close());
    if (refusal) result.error = refusal;
    return finish(result, t0);
  }

  post({ type: 'progress', stage: 'decoding', done: 0, total: 1 });
  const { bitmap } = await decoding;
  timings.decode_wait_ms = lap();
  if (!bitmap) {
    result.error = problem('corrupt_image', { format: info.label });
    return finish(result, t0);
  }
  try {
    const pdq = pdqOfBitmap(bitmap, msg.dihedral, post, timings);
    result.width = bitmap.width;
    result.height = bitmap.height;
    result.pdq = pdq.hash;
    result.pdq_quality = pdq.quality;
    result.pdq_dihedral = pdq.dihedral;
    lap();
  } finally {
    bitmap.close();
  }
  result.timings = timings;
  return finish(result, t0);

  function lap() {
    const now = performance.now();
    const ms = Math.round(now - t);
    t = now;
    return ms;
  }
}

/** MD5 and SHA-256 of bytes in memory, into `result` (with the engine that made each). */
function digestsOf(bytes, engine, result) {
  const md5 = newMd5(engine);
  const sha = newSha256(engine);
  result.md5 = md5.update(bytes).hex();
  result.sha256 = sha.update(bytes).hex();
  result.md5_engine = engineOf(md5);
  result.sha256_engine = engineOf(sha);
}

async function readOr(file, result) {
  try {
    return await readBytes(file);
  } catch (err) {
    result.error = err.problem || problem('read_error', {});
    return null;
  }
}

function finish(result, t0) {
  result.seconds = Math.round(performance.now() - t0) / 1000;
  return result;
}

/**
 * PDQ of the decoded pixels: the bitmap is copied 1:1 (never scaled) into a strip-sized canvas and
 * read back strip by strip, so memory beyond the bitmap itself is a few megabytes.
 */
function pdqOfBitmap(bitmap, dihedral, post, timings) {
  const { width, height } = bitmap;
  const acc = new PdqAccumulator(width, height);
  const rows = Math.max(1, Math.min(height, Math.floor(STRIP_BYTES / (4 * width))));
  const canvas = new OffscreenCanvas(width, rows);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: true });
  ctx.imageSmoothingEnabled = false;
  let copy = 0, math = 0;
  for (let y = 0; y < height; y += rows) {
    const n = Math.min(rows, height - y);
    const t0 = performance.now();
    ctx.clearRect(0, 0, width, rows);
    ctx.drawImage(bitmap, 0, y, width, n, 0, 0, width, n);
    const strip = ctx.getImageData(0, 0, width, n).data;
    const t1 = performance.now();
    acc.addRows(strip, n);
    copy += t1 - t0;
    math += performance.now() - t1;
    post({ type: 'progress', stage: 'pdq', done: y + n, total: height });
  }
  const t2 = performance.now();
  const out = acc.finish({ dihedral });
  timings.pixels_ms = Math.round(copy); // canvas copy and read-back of the strips
  timings.pdq_ms = Math.round(math + performance.now() - t2); // luma, downsample, DCT, bits
  return out;
}

// Stored luma -> the full-range luma takeback hashes (libswscale's gray output, JPEG range).
const FULL_RANGE = Float32Array.from({ length: 256 }, (_, y) => y);
const LIMITED_TO_FULL = Float32Array.from({ length: 256 }, (_, y) => Math.min(255, Math.max(0, Math.round(((y - 16) * 255) / 219))));
const PLANAR = /^(I420|I420A|I422|I422A|I444|I444A|NV12)$/;

/**
 * PDQ of one decoded video frame at its own size, as takeback's vPDQ hashes it: from the frame's
 * luma plane (Y, made full range) when the browser hands over YUV, otherwise from its RGB drawn 1:1.
 */
async function pdqOfVideoFrame(frame) {
  try {
    const { width, height } = frame.visibleRect;
    if (frame.format && PLANAR.test(frame.format)) {
      const buf = new Uint8Array(frame.allocationSize());
      const layout = await frame.copyTo(buf);
      const acc = new PdqAccumulator(width, height);
      const lut = frame.colorSpace && frame.colorSpace.fullRange ? FULL_RANGE : LIMITED_TO_FULL;
      acc.addLumaRows(buf, height, layout[0].offset, layout[0].stride, lut);
      const { hash, quality } = acc.finish({ dihedral: false });
      return { hash, quality, width, height };
    }
    const bitmap = await createImageBitmap(frame);
    try {
      const { hash, quality } = pdqOfBitmap(bitmap, false, () => {}, {});
      return { hash, quality, width: bitmap.width, height: bitmap.height };
    } finally {
      bitmap.close();
    }
  } finally {
    frame.close();
  }
}
