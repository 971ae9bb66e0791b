// Plain-English messages for each problem code the hashing worker reports.
//
// The page shows `message` as it is, or looks up `code` (with `params`) in its own catalogue to show
// the zh-Hant text; codes are stable. Written for the person whose photos these are: what happened,
// what was still done, and nothing technical she has to decode.

const fmtInt = (n) => Number(n).toLocaleString('en');
const fmtDuration = (s) => (s >= 120 ? `${fmtInt(Math.round(s / 60))} minutes` : `${fmtInt(Math.round(s))} seconds`);

const TEXT = {
  empty_file: () => 'This file is empty (0 bytes), so there is nothing to fingerprint.',
  read_error: () => 'This file could not be read. It may have been moved, deleted or still be downloading; try choosing it again.',
  not_an_image: (p) => `This is not a photo or video (it looks like ${p.format}). Its exact fingerprints (MD5 and SHA-256) were made, but not a photo fingerprint (PDQ).`,
  not_decodable: (p) => `This browser cannot open ${p.format} photos, so no photo fingerprint (PDQ) could be made here. Its exact fingerprints (MD5 and SHA-256) were made. To get a PDQ, save the photo as JPEG (many phones offer "Most compatible") and choose that copy.`,
  image_file_too_large: (p) => `This photo file is larger than ${fmtInt(p.limit / 1048576)} MB, too large to open in the browser. Its exact fingerprints (MD5 and SHA-256) were made, but not a photo fingerprint (PDQ).`,
  too_many_pixels: (p) => `This image says it is ${fmtInt(p.width)} x ${fmtInt(p.height)} pixels (${fmtInt(Math.round(p.width * p.height / 1e6))} megapixels). Images of ${fmtInt(p.limit / 1e6)} megapixels or more are not opened, to protect your device, so no photo fingerprint (PDQ) was made. Its exact fingerprints (MD5 and SHA-256) were made.`,
  no_dimensions: (p) => `This ${p.format} file is damaged: its size could not be read, so it was not opened. Its exact fingerprints (MD5 and SHA-256) were made.`,
  no_pixels: (p) => `This ${p.format} file declares no pixels, so there is no picture to fingerprint. Its exact fingerprints (MD5 and SHA-256) were made.`,
  corrupt_image: (p) => `This ${p.format} file is damaged or incomplete and could not be opened, so no photo fingerprint (PDQ) was made. Its exact fingerprints (MD5 and SHA-256) were made.`,
  video_hashes_only: (p) => `This is a video (${p.format}). Its exact fingerprints (MD5 and SHA-256) were made; this browser could not play it, so no video fingerprint (vPDQ) was made here.`,
  video_too_long: (p) => `This video is ${fmtDuration(p.seconds)} long, longer than the ${fmtDuration(p.limit)} this service fingerprints, so no video fingerprint (vPDQ) was made. Its exact fingerprints (MD5 and SHA-256) were made.`,
  video_too_large: (p) => `This video's frames are ${fmtInt(p.width)} x ${fmtInt(p.height)} pixels, larger than this service fingerprints, so no video fingerprint (vPDQ) was made. Its exact fingerprints (MD5 and SHA-256) were made.`,
  cancelled: () => 'Stopped before this file was finished.',
  internal: () => 'Something went wrong while fingerprinting this file. The other files are not affected; you can try this one again.',
};

/** { code, message, params } for a problem code; unknown codes fall back to the internal one. */
export function problem(code, params = {}) {
  const text = TEXT[code] || TEXT.internal;
  return { code, message: text(params), params };
}
