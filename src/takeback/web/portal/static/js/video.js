// vPDQ of a video in the browser, sampled the way takeback's lookups sample it (signals/vpdq.py with
// its query defaults): the first frame of each one-second window, each frame's PDQ from its own
// full-resolution luma, near-repeats of the last kept frame dropped. Used by ./hashing.js.
//
// Decoding needs an HTMLVideoElement, which only the page's thread has: the page seeks a muted,
// never-shown <video> playing an object URL of the File (the browser reads it in ranges, so memory
// stays flat whatever the file's size), wraps the shown frame in a VideoFrame and transfers it to a
// hashing worker. The page's own work per frame is a seek and a handle, so it stays responsive;
// at most a few frames are in flight. Needs the page's CSP to allow `media-src blob:`.

import { hammingHex, LOW_QUALITY } from './pdq.js';

/** Sampling interval for queries, seconds (signals/vpdq.py DEFAULT_INTERVAL). */
export const INTERVAL = 1.0;
/** A frame within this many bits of the last kept frame is a repeat (signals/vpdq.py REPEAT_DISTANCE). */
export const REPEAT_DISTANCE = 16;
/** takeback's default video limits (config.Settings max_video_*): larger videos are not decoded. */
export const VIDEO_LIMITS = Object.freeze({
  maxSeconds: 6 * 3600,
  maxFrames: 2_000_000,
  maxWidth: 8192,
  maxHeight: 8192,
  maxPixels: 8192 * 4352,
});
const IN_FLIGHT = 3; // frames handed to the worker and not yet hashed
const OPEN_TIMEOUT_MS = 20_000;
const SEEK_TIMEOUT_MS = 10_000;

/** Whether this page can decode video at all (a page thread with WebCodecs' VideoFrame). */
export function canDecodeVideo() {
  return typeof document !== 'undefined' && typeof VideoFrame === 'function';
}

function waitFor(video, ok, ms) {
  return new Promise((resolve) => {
    const done = (value) => {
      clearTimeout(timer);
      video.removeEventListener(ok, onOk);
      video.removeEventListener('error', onErr);
      resolve(value);
    };
    const onOk = () => done(true);
    const onErr = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    video.addEventListener(ok, onOk);
    video.addEventListener('error', onErr);
  });
}

/** The frame shown at `t` seconds, as a VideoFrame, or null when the browser could not show it. */
async function frameAt(video, t) {
  const seeked = waitFor(video, 'seeked', SEEK_TIMEOUT_MS);
  video.currentTime = t;
  if (!(await seeked)) return null;
  try {
    return new VideoFrame(video);
  } catch {
    return null; // nothing decoded at this position
  }
}

/**
 * The vPDQ of `file`, or why there is none.
 *
 * @param {File} file
 * @param {object} o
 * @param {Worker} o.worker a hashing worker (./hash-worker.js), used for this video alone
 * @param {object} [o.limits] VIDEO_LIMITS overrides
 * @param {(fraction: number) => void} [o.onProgress]
 * @param {() => boolean} [o.stopped] polled between frames
 * @returns {Promise<{vpdq: string, frames: number, duration: number, width: number, height: number}
 *   | {refused: {code: string, params: object}} | {undecodable: true} | {cancelled: true}>}
 */
const MP4_TOP = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'uuid', 'moof', 'mfra', 'meta',
  'pdin', 'styp', 'sidx', 'ssix', 'prft', 'emsg', 'junk', 'pnot', 'PICT']);
const MP4_MAX_BOXES = 10_000;

/**
 * Whether a file's container holds together before the browser's demuxer is given it: an MP4/MOV
 * must be a chain of known top-level boxes that ends exactly at the file's end and includes `moov`;
 * a WebM/Matroska must start with an EBML header. Why: a damaged or forged file with an MP4 head
 * and random bytes after it made Chromium's renderer crash at 2 GB (the whole tab, her other files
 * with it). Reads only box headers (a few bytes each), never the file.
 */
export async function plausibleContainer(file) {
  const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  if (head.length >= 4 && head[0] === 0x1a && head[1] === 0x45 && head[2] === 0xdf && head[3] === 0xa3) {
    return true; // EBML: Matroska / WebM (its own demuxer checks element sizes against the file)
  }
  const type = (b, o) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
  if (head.length < 8 || type(head, 4) !== 'ftyp') return false;
  let offset = 0;
  let moov = false;
  for (let n = 0; n < MP4_MAX_BOXES && offset < file.size; n++) {
    const h = new Uint8Array(await file.slice(offset, offset + 16).arrayBuffer());
    if (h.length < 8) return false;
    const kind = type(h, 4);
    if (!MP4_TOP.has(kind)) return false;
    let size = ((h[0] << 24) >>> 0) + (h[1] << 16) + (h[2] << 8) + h[3];
    if (size === 1) { // 64-bit size
      if (h.length < 16) return false;
      const hi = ((h[8] << 24) >>> 0) + (h[9] << 16) + (h[10] << 8) + h[11];
      const lo = ((h[12] << 24) >>> 0) + (h[13] << 16) + (h[14] << 8) + h[15];
      size = hi * 2 ** 32 + lo;
    } else if (size === 0) {
      size = file.size - offset; // to the end of the file
    }
    if (size < 8 || offset + size > file.size) return false;
    if (kind === 'moov') moov = true;
    offset += size;
  }
  return moov && offset === file.size;
}

export async function videoFingerprint(file, { worker, limits = {}, onProgress = () => {}, stopped = () => false }) {
  const lim = { ...VIDEO_LIMITS, ...limits };
  if (!(await plausibleContainer(file))) return { undecodable: true };
  const video = document.createElement('video');
  video.muted = true;
  video.playsInline = true;
  video.preload = 'auto';
  const url = URL.createObjectURL(file);
  const pending = new Map();
  let nextId = 1;
  worker.onmessage = (e) => {
    const p = pending.get(e.data.id);
    if (!p) return;
    pending.delete(e.data.id);
    if (e.data.type === 'frame') p.resolve(e.data);
    else p.resolve(null); // the worker could not hash this frame
  };
  const hash = (frame) => new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, { resolve });
    worker.postMessage({ id, op: 'vpdq-frame', frame }, [frame]);
  });
  try {
    const opened = waitFor(video, 'loadeddata', OPEN_TIMEOUT_MS);
    video.src = url;
    if (!(await opened) || !video.videoWidth || !video.videoHeight) return { undecodable: true };
    const { videoWidth: width, videoHeight: height } = video;
    const duration = video.duration;
    if (width > lim.maxWidth || height > lim.maxHeight || width * height > lim.maxPixels) {
      return { refused: { code: 'video_too_large', params: { width, height, limit: lim.maxPixels } } };
    }
    if (!Number.isFinite(duration) || duration <= 0) return { undecodable: true };
    if (duration > lim.maxSeconds) {
      return { refused: { code: 'video_too_long', params: { seconds: duration, limit: lim.maxSeconds } } };
    }

    const samples = []; // { number, timestamp, result: Promise }
    let frameSeconds = null;
    let lastTs = -1;
    for (let k = 0; k < duration; k += INTERVAL) {
      if (stopped()) return { cancelled: true };
      // the frame shown just after the window opens: the window's first frame when one starts on it
      let frame = await frameAt(video, Math.min(k + 0.001, duration));
      if (!frame) {
        if (samples.length === 0) return { undecodable: true };
        break; // damaged from here on: the frames before were hashed
      }
      if (frame.duration) frameSeconds = frame.duration / 1e6;
      if (frameSeconds && frameSeconds > 0 && duration / frameSeconds > lim.maxFrames) {
        frame.close();
        return { refused: { code: 'video_too_long', params: { seconds: duration, limit: lim.maxSeconds } } };
      }
      let ts = frame.timestamp / 1e6;
      if (ts < k - 1e-4 && frameSeconds && ts + frameSeconds < duration) {
        // that frame started in the previous window: this window's first frame is the next one
        frame.close();
        frame = await frameAt(video, ts + frameSeconds + 0.0005);
        if (!frame) break;
        ts = frame.timestamp / 1e6;
      }
      if (ts <= lastTs + 1e-6 || (frameSeconds && ts < k - 1e-4)) {
        // the same frame again, or no frame starts in this window (a long frame, the video's end)
        frame.close();
        continue;
      }
      lastTs = ts;
      const number = frameSeconds ? Math.round(ts / frameSeconds) : samples.length;
      samples.push({ number, timestamp: ts, result: hash(frame) });
      if (samples.length > IN_FLIGHT) await samples[samples.length - 1 - IN_FLIGHT].result;
      onProgress(Math.min(1, (k + INTERVAL) / duration));
    }
    const lines = [];
    let last = null;
    for (const s of samples) {
      const r = await s.result;
      if (!r) continue;
      // as vpdq_from_video: drop a repeat of the last kept frame, or another unusable one in a run
      if (last && (hammingHex(r.hash, last.hash) <= REPEAT_DISTANCE || (r.quality < LOW_QUALITY && last.quality < LOW_QUALITY))) continue;
      last = r;
      lines.push(`${s.number},${r.quality},${r.hash},${s.timestamp.toFixed(3)}`);
    }
    if (!lines.length) return { undecodable: true };
    return { vpdq: lines.join('\n'), frames: lines.length, duration, width, height };
  } finally {
    for (const p of pending.values()) p.resolve(null);
    worker.onmessage = null;
    video.removeAttribute('src');
    video.load();
    URL.revokeObjectURL(url);
  }
}
