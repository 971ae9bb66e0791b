// The portal's hashing worker (a module worker; started by ./hashing.js, never by a page directly).
//
// Everything slow happens here, off the page's thread: reading the file, MD5 and SHA-256, decoding
// and PDQ. The file's bytes never leave this worker; only hashes, sizes and messages are posted back.
//
// Messages in:  { id, op: 'file', file, maxPixels, maxImageBytes, streamAbove, dihedral }
//               { id, op: 'digest', file, algo: 'md5' | 'sha256', chunkBytes }
// Messages out: { id, type: 'progress', stage, done, total }
//               { id, type: 'result', result }   (op 'file': a result, or { stream: true, ... })
//               { id, type: 'digest', algo, hex }

import { Md5 } from './md5.js';
import { Sha256 } from './sha256.js';
import { PdqAccumulator } from './pdq.js';
import { HEAD_BYTES, sniff } from './sniff.js';
import { problem } from './messages.js';

const CHUNK = 8 * 1024 * 1024;
const STRIP_BYTES = 8 * 1024 * 1024; // RGBA read back from the canvas per strip

self.onmessage = async (event) => {
  const msg = event.data;
  const post = (m) => self.postMessage({ id: msg.id, ...m });
  try {
    if (msg.op === 'file') post({ type: 'result', result: await hashFile(msg, post) });
    else if (msg.op === 'digest') post({ type: 'digest', algo: msg.algo, hex: await digest(msg, post) });
    else throw new Error(`unknown op ${msg.op}`);
  } catch (err) {
    // An unexpected failure (a bug, or the browser out of memory): one file fails, the rest go on.
    post({ type: 'failure', error: problem('internal', { detail: String(err && err.message || err) }) });
  }
};

async function readBytes(blob) {
  try {
    return new Uint8Array(await blob.arrayBuffer());
  } catch (err) {
    const e = new Error('read');
    e.problem = problem('read_error', { detail: err && err.name || '' });
    throw e;
  }
}

/** One hash of a file streamed in chunks: memory stays flat whatever the file's size. */
async function digest({ file, algo, chunkBytes = CHUNK }, post) {
  const h = algo === 'md5' ? new Md5() : new Sha256();
  const total = file.size;
  for (let at = 0; at < total; at += chunkBytes) {
    const bytes = await readBytes(file.slice(at, Math.min(total, at + chunkBytes)));
    h.update(bytes);
    post({ type: 'progress', stage: algo, done: Math.min(total, at + chunkBytes), total });
  }
  return h.hex();
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
    pdq: null,
    pdq_quality: null,
    pdq_dihedral: null,
    width: info.width ?? null,
    height: info.height ?? null,
    error: null,
    note: null,
  };
  if (info.kind === 'empty') {
    return { ...result, kind: 'other', md5: new Md5().hex(), sha256: new Sha256().hex(), error: problem('empty_file') };
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
    result.md5 = new Md5().update(bytes).hex();
    result.sha256 = new Sha256().update(bytes).hex();
    return finish(result, t0);
  }

  // A photo: refuse a decompression bomb from its header, before anything is decoded.
  if (info.width == null && file.size > head.length) {
    Object.assign(info, sniff(await readBytes(file.slice(0, Math.min(file.size, 16 * HEAD_BYTES)))));
  }
  post({ type: 'progress', stage: 'reading', done: 0, total: file.size });
  const bytes = await readOr(file, result);
  if (!bytes) return result;
  post({ type: 'progress', stage: 'hashing', done: 0, total: file.size });
  result.md5 = new Md5().update(bytes).hex();
  result.sha256 = new Sha256().update(bytes).hex();
  if (info.width == null || info.height == null) {
    result.error = problem('no_dimensions', { format: info.label });
    return finish(result, t0);
  }
  result.width = info.width;
  result.height = info.height;
  if (info.width * info.height >= msg.maxPixels || info.width === 0 || info.height === 0) {
    result.error = info.width * info.height === 0
      ? problem('no_pixels', { format: info.label })
      : problem('too_many_pixels', { width: info.width, height: info.height, limit: msg.maxPixels });
    return finish(result, t0);
  }

  post({ type: 'progress', stage: 'decoding', done: 0, total: 1 });
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: 'from-image', // EXIF orientation applied, as `takeback hash` does
      premultiplyAlpha: 'none',
      colorSpaceConversion: 'none', // the stored colours, as Pillow reads them (no ICC transform)
    });
  } catch (err) {
    result.error = problem('corrupt_image', { format: info.label });
    return finish(result, t0);
  }
  try {
    const pdq = pdqOfBitmap(bitmap, msg.dihedral, post);
    result.width = bitmap.width;
    result.height = bitmap.height;
    result.pdq = pdq.hash;
    result.pdq_quality = pdq.quality;
    result.pdq_dihedral = pdq.dihedral;
  } finally {
    bitmap.close();
  }
  return finish(result, t0);
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
function pdqOfBitmap(bitmap, dihedral, post) {
  const { width, height } = bitmap;
  const acc = new PdqAccumulator(width, height);
  const rows = Math.max(1, Math.min(height, Math.floor(STRIP_BYTES / (4 * width))));
  const canvas = new OffscreenCanvas(width, rows);
  const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: true });
  ctx.imageSmoothingEnabled = false;
  for (let y = 0; y < height; y += rows) {
    const n = Math.min(rows, height - y);
    ctx.clearRect(0, 0, width, rows);
    ctx.drawImage(bitmap, 0, y, width, n, 0, 0, width, n);
    acc.addRows(ctx.getImageData(0, 0, width, n).data, n);
    post({ type: 'progress', stage: 'pdq', done: y + n, total: height });
  }
  return acc.finish({ dihedral });
}
