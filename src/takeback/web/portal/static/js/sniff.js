// What a file is, from its first bytes, and an image's declared size, from its header alone.
//
// The portal must refuse a decompression bomb (a small file declaring 200 megapixels) before the
// browser decodes it, and must say plainly what it could not read. File names and the browser's
// File.type are guesses from the extension; the bytes decide.

/** How many leading bytes `sniff` wants (a JPEG's size may sit after large EXIF/ICC segments). */
export const HEAD_BYTES = 256 * 1024;

const ascii = (b, at, n) => String.fromCharCode(...b.subarray(at, at + n));
const u16be = (b, i) => (b[i] << 8) | b[i + 1];
const u16le = (b, i) => b[i] | (b[i + 1] << 8);
const u24le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const u32be = (b, i) => ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
const i32le = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);

// Formats Chromium, Firefox and Safari all decode with createImageBitmap.
const DECODABLE = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp', 'image/bmp', 'image/avif']);

const HEIF_BRANDS = new Set(['heic', 'heix', 'hevc', 'hevx', 'heim', 'heis', 'mif1', 'msf1']);
const AVIF_BRANDS = new Set(['avif', 'avis']);

/** JPEG: walk the marker segments to the first SOFn frame header. Null when not reached. */
function jpegSize(b) {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) return null; // not a marker where one must be: damaged
    const m = b[i + 1];
    if (m === 0xff) { i += 1; continue; } // fill byte
    if (m === 0xd8 || m === 0x01 || (m >= 0xd0 && m <= 0xd7)) { i += 2; continue; }
    const len = u16be(b, i + 2);
    const isSof = m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;
    if (isSof) return { height: u16be(b, i + 5), width: u16be(b, i + 7) };
    if (m === 0xda || m === 0xd9 || len < 2) return null; // scan data before any frame header
    i += 2 + len;
  }
  return null;
}

function webpSize(b) {
  const chunk = ascii(b, 12, 4);
  if (chunk === 'VP8 ' && b.length >= 30) return { width: u16le(b, 26) & 0x3fff, height: u16le(b, 28) & 0x3fff };
  if (chunk === 'VP8L' && b.length >= 25) {
    const v = (b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24)) >>> 0;
    return { width: (v & 0x3fff) + 1, height: ((v >>> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X' && b.length >= 30) return { width: u24le(b, 24) + 1, height: u24le(b, 27) + 1 };
  return null;
}

/** ISO-BMFF (HEIF/AVIF): the largest 'ispe' (image spatial extent) property in the header. */
function ispeSize(b) {
  let best = null;
  for (let i = 4; i + 16 <= b.length; i++) {
    if (b[i] === 0x69 && b[i + 1] === 0x73 && b[i + 2] === 0x70 && b[i + 3] === 0x65) { // 'ispe'
      const width = u32be(b, i + 8), height = u32be(b, i + 12);
      if (!best || width * height > best.width * best.height) best = { width, height };
    }
  }
  return best;
}

/**
 * { mime, kind, label, decodable, width?, height? } for the leading bytes of a file.
 * kind: 'photo' (an image format), 'video', 'empty' or 'other'.
 */
export function sniff(b) {
  if (b.length === 0) return { mime: 'application/x-empty', kind: 'empty', label: 'an empty file', decodable: false };
  const out = (mime, kind, label, size = null) => ({
    mime, kind, label, decodable: DECODABLE.has(mime), ...(size || {}),
  });
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return out('image/jpeg', 'photo', 'JPEG', jpegSize(b));
  if (b.length >= 24 && u32be(b, 0) === 0x89504e47 && u32be(b, 4) === 0x0d0a1a0a) {
    return out('image/png', 'photo', 'PNG', ascii(b, 12, 4) === 'IHDR' ? { width: u32be(b, 16), height: u32be(b, 20) } : null);
  }
  if (b.length >= 10 && (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a')) {
    return out('image/gif', 'photo', 'GIF', { width: u16le(b, 6), height: u16le(b, 8) });
  }
  if (b.length >= 16 && ascii(b, 0, 4) === 'RIFF') {
    const form = ascii(b, 8, 4);
    if (form === 'WEBP') return out('image/webp', 'photo', 'WebP', webpSize(b));
    if (form === 'AVI ') return out('video/x-msvideo', 'video', 'AVI video');
    if (form === 'WAVE') return out('audio/wav', 'other', 'WAV audio');
  }
  if (b.length >= 26 && b[0] === 0x42 && b[1] === 0x4d) { // 'BM'
    const header = i32le(b, 14);
    const size = header === 12
      ? { width: u16le(b, 18), height: u16le(b, 20) }
      : { width: Math.abs(i32le(b, 18)), height: Math.abs(i32le(b, 22)) };
    if (header >= 12 && header <= 124) return out('image/bmp', 'photo', 'BMP', size);
  }
  if (b.length >= 12 && ascii(b, 4, 4) === 'ftyp') {
    const brands = [ascii(b, 8, 4)];
    const boxLen = Math.min(u32be(b, 0), b.length);
    for (let i = 16; i + 4 <= boxLen; i += 4) brands.push(ascii(b, i, 4));
    if (brands.some((x) => AVIF_BRANDS.has(x))) return out('image/avif', 'photo', 'AVIF', ispeSize(b));
    if (brands.some((x) => HEIF_BRANDS.has(x))) return out('image/heic', 'photo', 'HEIC/HEIF', ispeSize(b));
    if (brands[0] === 'qt  ') return out('video/quicktime', 'video', 'QuickTime video');
    if (brands[0].startsWith('3g')) return out('video/3gpp', 'video', '3GP video');
    return out('video/mp4', 'video', 'MP4 video');
  }
  if (b.length >= 4 && u32be(b, 0) === 0x1a45dfa3) return out('video/webm', 'video', 'WebM/Matroska video');
  if (b.length >= 4 && (u32be(b, 0) === 0x49492a00 || u32be(b, 0) === 0x4d4d002a)) return out('image/tiff', 'photo', 'TIFF');
  if (b.length >= 4 && u32be(b, 0) === 0x3026b275) return out('video/x-ms-asf', 'video', 'Windows Media video');
  if (b.length >= 3 && ascii(b, 0, 3) === 'FLV') return out('video/x-flv', 'video', 'Flash video');
  if (b.length >= 4 && ascii(b, 0, 4) === 'OggS') return out('application/ogg', 'video', 'Ogg media');
  if (b.length >= 189 && b[0] === 0x47 && b[188] === 0x47) return out('video/mp2t', 'video', 'MPEG transport stream');
  if (b.length >= 4 && (u32be(b, 0) === 0x000001ba || u32be(b, 0) === 0x000001b3)) return out('video/mpeg', 'video', 'MPEG video');
  if (b.length >= 5 && ascii(b, 0, 5) === '%PDF-') return out('application/pdf', 'other', 'a PDF document');
  if (b.length >= 4 && u32be(b, 0) === 0x504b0304) return out('application/zip', 'other', 'a ZIP archive or office document');
  if (looksLikeText(b)) return out('text/plain', 'other', 'a text file');
  return out('application/octet-stream', 'other', 'not a recognised image or video');
}

function looksLikeText(b) {
  const n = Math.min(b.length, 4096);
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c < 9 || (c > 13 && c < 32 && c !== 27)) return false;
  }
  return true;
}
