// The portal's in-browser fingerprinting, for pages to call (an ES module; no globals, no eval).
//
//   import { hashFiles } from '/static/js/hashing.js';
//   const results = await hashFiles(input.files, { onProgress: (p) => ... });
//
// Each file is read and hashed in Web Workers (./hash-worker.js), so the page stays responsive and
// the file's bytes never reach the page's thread or the network. Photos get PDQ (and its 8 dihedral
// hashes) exactly as `takeback hash` makes it, plus MD5 and SHA-256; videos and anything else get
// MD5 and SHA-256 streamed in chunks (each chunk read once; SHA-256 in one worker and MD5 in
// another, at the same time). A video the browser can play also gets a vPDQ (./video.js): the page
// seeks it about once a second and a worker hashes each frame's full-resolution luma.
// One bad file never stops the rest: its result carries `error` instead.

import { canDecodeVideo, videoFingerprint, VIDEO_LIMITS } from './video.js';
import { problem as say } from './messages.js';

export { DIHEDRAL_NAMES, LOW_QUALITY } from './pdq.js';
export { VIDEO_LIMITS } from './video.js';

/** Images declaring this many pixels or more are refused before decoding (decompression bombs). */
export const MAX_PIXELS = 200_000_000;
/** Photo files larger than this are not read whole for decoding (MD5/SHA-256 are still streamed). */
export const MAX_IMAGE_BYTES = 512 * 1024 * 1024;
/** Files not decoded and larger than this are hashed as two parallel streams (MD5 ‖ SHA-256). */
export const STREAM_ABOVE = 16 * 1024 * 1024;

const WORKER_URL = new URL('./hash-worker.js', import.meta.url);

// Workers outlive a call: a fresh one spends its first ~0.3 s compiling the hash and PDQ code, so
// the idle ones are kept for the next selection (a few MB each) until releaseWorkers().
const spare = [];

/** Start the workers ahead of use (e.g. when the upload page opens), so the first file is fast. */
export function warmUp(count = defaultWorkers()) {
  while (spare.length < count) spare.push(new Worker(WORKER_URL, { type: 'module', name: 'takeback-hash' }));
}

/** Stop the idle workers (they are started again on the next call). */
export function releaseWorkers() {
  for (const w of spare.splice(0)) w.terminate();
}

function defaultWorkers() {
  const cores = (typeof navigator !== 'undefined' && navigator.hardwareConcurrency) || 2;
  return Math.max(2, Math.min(4, cores));
}

function problem(code, message) {
  return { code, message, params: {} };
}

const CANCELLED = 'Stopped before this file was finished.';
const INTERNAL = 'Something went wrong while fingerprinting this file. The other files are not affected; you can try this one again.';

/**
 * Fingerprint files in the browser.
 *
 * @param {Iterable<File>|FileList} files
 * @param {object} [options]
 * @param {(p: {index: number, name: string, stage: string, fraction: number, result?: object}) => void} [options.onProgress]
 *   stage: 'queued', 'reading', 'hashing', 'decoding', 'pdq', 'md5', 'sha256', 'vpdq', then 'done' (with
 *   `result`). `fraction` is 0..1 for that file.
 * @param {AbortSignal} [options.signal] stops all work; unfinished files get error code 'cancelled'.
 * @param {number} [options.workers] worker count (default: cores, clamped to 2..4).
 * @param {boolean} [options.dihedral] the 8 dihedral PDQ hashes (default true).
 * @param {boolean} [options.vpdq] vPDQ for videos the browser can play (default true).
 * @param {object} [options.videoLimits] VIDEO_LIMITS overrides (the installation's max_video_*).
 * @param {'auto'|'js'} [options.hashEngine] 'auto' (default): MD5's and SHA-256's rounds in
 *   WebAssembly where the browser allows it, else JavaScript; 'js': JavaScript only (tests and
 *   benchmarks compare the two).
 * @returns {Promise<object[]>} one result per file, in input order:
 *   { index, name, size, type, format, kind: 'photo'|'video'|'other', md5, sha256,
 *     sha256_engine, md5_engine: 'wasm'|'js' (which rounds made them), pdq, pdq_quality,
 *     pdq_dihedral (8 hex strings, DIHEDRAL_NAMES order), width, height,
 *     vpdq ('frame,quality,hash,timestamp' lines joined by '\n', takeback's text form), vpdq_frames,
 *     error: null | {code, message, params}, note: null | {code, message, params}, seconds }
 */
export function hashFiles(files, options = {}) {
  const list = Array.from(files);
  const onProgress = options.onProgress || (() => {});
  const settings = {
    maxPixels: options.maxPixels ?? MAX_PIXELS,
    maxImageBytes: options.maxImageBytes ?? MAX_IMAGE_BYTES,
    streamAbove: options.streamAbove ?? STREAM_ABOVE,
    dihedral: options.dihedral ?? true,
    hashEngine: options.hashEngine ?? 'auto',
  };
  // 'slice' reads a stream chunk by chunk with File.slice, as where there is no BYOB reader (tests)
  const streamReader = options.streamReader;
  const poolSize = Math.max(1, options.workers ?? defaultWorkers());
  const results = new Array(list.length).fill(null);
  if (list.length === 0) return Promise.resolve(results);

  return new Promise((resolve) => {
    const queue = list.map((file, index) => ({ op: 'file', index }));
    const streams = new Map(); // index -> { result, pending, workers, started }
    const idle = [];
    const busy = new Map(); // worker -> task
    let remaining = list.length;
    let nextId = 1;
    let stopped = false;

    const report = (index, stage, fraction, result) => {
      try {
        onProgress({ index, name: list[index].name, stage, fraction, ...(result ? { result } : {}) });
      } catch (err) {
        // a page's progress handler must not break the hashing
        setTimeout(() => { throw err; });
      }
    };
    list.forEach((_, i) => report(i, 'queued', 0));

    const complete = (index, result) => {
      if (results[index]) return;
      if (result.kind === 'video' && !result.error && wantVpdq && !videos.seen.has(index)) {
        videos.seen.add(index);
        videos.queue.push([index, result]);
        runVideos();
        return;
      }
      results[index] = { index, ...result };
      remaining -= 1;
      report(index, 'done', 1, results[index]);
      if (remaining === 0) shutdown();
    };

    const fail = (index, code, message) => {
      const s = streams.get(index);
      const base = s ? s.result : { name: list[index].name, size: list[index].size, type: list[index].type || null };
      complete(index, {
        format: null, kind: 'other', md5: null, sha256: null, sha256_engine: null, md5_engine: null, pdq: null, pdq_quality: null,
        pdq_dihedral: null, vpdq: null, vpdq_frames: null, width: null, height: null, note: null, seconds: null,
        ...base, error: problem(code, message),
      });
    };

    // Videos are fingerprinted one at a time, after their MD5/SHA-256, in a worker of their own.
    const wantVpdq = (options.vpdq ?? true) && canDecodeVideo();
    const videos = { queue: [], seen: new Set(), running: false };
    const runVideos = async () => {
      if (videos.running) return;
      videos.running = true;
      while (videos.queue.length && !stopped) {
        const [index, result] = videos.queue.shift();
        const worker = new Worker(WORKER_URL, { type: 'module', name: 'takeback-vpdq' });
        const t0 = performance.now();
        let out;
        try {
          report(index, 'vpdq', 0);
          out = await videoFingerprint(list[index], {
            worker,
            limits: options.videoLimits,
            onProgress: (f) => report(index, 'vpdq', f),
            stopped: () => stopped,
          });
        } catch (err) {
          out = { undecodable: true };
        } finally {
          worker.terminate();
        }
        if (out.vpdq) {
          result.vpdq = out.vpdq;
          result.vpdq_frames = out.frames;
          result.width = out.width;
          result.height = out.height;
          result.duration = Math.round(out.duration * 1000) / 1000;
          result.vpdq_seconds = Math.round(performance.now() - t0) / 1000;
          result.note = null;
        } else if (out.refused) {
          result.note = say(out.refused.code, { format: result.note?.params?.format, ...out.refused.params });
        }
        if (!out.cancelled) complete(index, result);
      }
      videos.running = false;
    };

    const shutdown = () => {
      for (const w of idle) {
        w.onmessage = null;
        w.onerror = null;
        if (spare.length < 4) spare.push(w);
        else w.terminate();
      }
      for (const w of busy.keys()) w.terminate();
      idle.length = 0;
      busy.clear();
      if (options.signal) options.signal.removeEventListener('abort', abort);
      resolve(results);
    };

    const abort = () => {
      if (stopped) return;
      stopped = true;
      for (const w of busy.keys()) w.terminate(); // mid-file: stopped at once
      busy.clear();
      queue.length = 0;
      for (let i = 0; i < list.length; i++) if (!results[i]) fail(i, 'cancelled', CANCELLED);
    };

    const onMessage = (worker, msg) => {
      const task = busy.get(worker);
      if (!task || msg.id !== task.id) return;
      const { index } = task;
      if (msg.type === 'progress') {
        if (task.op === 'pair') {
          report(index, 'hashing', msg.done / Math.max(1, msg.total));
        } else {
          report(index, msg.stage, msg.stage === 'pdq' ? 0.5 + 0.5 * (msg.done / msg.total) : 0.1);
        }
        return;
      }
      busy.delete(worker);
      idle.push(worker);
      if (msg.type === 'result' && msg.result.stream) {
        streams.set(index, { result: msg.result.result, pending: 0, workers: [] });
        queue.unshift({ op: 'pair', index });
      } else if (msg.type === 'result') {
        complete(index, msg.result);
      } else if (msg.type === 'digest') {
        const s = streams.get(index);
        Object.assign(s.result, msg.digests);
        s.pending -= 1;
        if (s.pending === 0 && !results[index]) {
          s.result.seconds = Math.round(performance.now() - s.started) / 1000;
          complete(index, s.result);
        }
      } else {
        if (task.op === 'pair') replacePartners(worker, index);
        fail(index, (msg.error && msg.error.code) || 'internal', (msg.error && msg.error.message) || INTERNAL);
      }
      pump();
    };

    // A failed stream leaves its partner waiting on their channel: replace the partner.
    const replacePartners = (failed, index) => {
      const s = streams.get(index);
      for (const w of (s && s.workers) || []) {
        if (w === failed || !busy.has(w)) continue;
        busy.delete(w);
        w.terminate();
        idle.push(spawn());
      }
    };

    const spawn = () => {
      const worker = spare.pop() || new Worker(WORKER_URL, { type: 'module', name: 'takeback-hash' });
      worker.onmessage = (e) => onMessage(worker, e.data);
      // A worker that dies (out of memory, a script error) fails its file; a fresh one takes its place.
      worker.onerror = (e) => {
        e.preventDefault();
        const task = busy.get(worker);
        busy.delete(worker);
        worker.terminate();
        if (stopped) return;
        if (task && task.op === 'pair') replacePartners(worker, task.index);
        if (task) fail(task.index, 'internal', INTERNAL);
        idle.push(spawn());
        pump();
      };
      return worker;
    };

    const pump = () => {
      while (!stopped && idle.length && queue.length) {
        const task = queue[0];
        // a stream wants two workers at once (reader + SHA-256, and MD5), or one when that is all
        const pairWanted = task.op === 'pair' && poolSize > 1;
        if (pairWanted && idle.length < 2) return;
        queue.shift();
        if (results[task.index]) continue;
        task.id = nextId++;
        const file = list[task.index];
        if (task.op === 'file') {
          const worker = idle.pop();
          busy.set(worker, task);
          worker.postMessage({ id: task.id, op: 'file', file, ...settings });
          continue;
        }
        const s = streams.get(task.index);
        s.started = performance.now();
        const lead = idle.pop();
        busy.set(lead, task);
        s.workers = [lead];
        if (!pairWanted) {
          s.pending = 1;
          lead.postMessage({ id: task.id, op: 'stream', file, hashEngine: settings.hashEngine, streamReader });
          continue;
        }
        const follower = idle.pop();
        busy.set(follower, task);
        s.workers.push(follower);
        s.pending = 2;
        const channel = new MessageChannel();
        const { hashEngine } = settings;
        follower.postMessage({ id: task.id, op: 'follow', port: channel.port2, hashEngine }, [channel.port2]);
        lead.postMessage({ id: task.id, op: 'stream', file, port: channel.port1, hashEngine, streamReader }, [channel.port1]);
      }
    };

    if (options.signal) {
      if (options.signal.aborted) { abort(); return; }
      options.signal.addEventListener('abort', abort);
    }
    const started = poolSize === 1 ? 1 : Math.min(poolSize, Math.max(2, list.length));
    for (let i = 0; i < started; i++) idle.push(spawn());
    pump();
  });
}

/** Hamming distance between two hex hashes of equal length (for pages comparing PDQs). */
export { hammingHex } from './pdq.js';
