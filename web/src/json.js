// Everything the page reads from the network goes through here: size-capped, parsed in
// try/catch, and read field by field with type checks, so a hostile or broken message can
// neither stall the page nor put anything but numbers, booleans and bounded strings into it.

export const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_TEXT = 512;

// bytes: Uint8Array (or a string). Returns a plain object, or null when the message is too
// large, not UTF-8 JSON, or not an object.
export function parseObject(bytes) {
  if (bytes == null) return null;
  const size = typeof bytes === 'string' ? bytes.length : bytes.byteLength;
  if (typeof size !== 'number' || size === 0 || size > MAX_MESSAGE_BYTES) return null;
  let text = bytes;
  try {
    if (typeof bytes !== 'string') text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    const value = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}

export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// A finite number, or fallback.
export function num(obj, key, fallback = null) {
  if (!isObject(obj)) return fallback;
  const v = obj[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

export function bool(obj, key, fallback = null) {
  if (!isObject(obj)) return fallback;
  const v = obj[key];
  return typeof v === 'boolean' ? v : fallback;
}

// A string clipped to max characters, or fallback.
export function str(obj, key, fallback = null, max = MAX_TEXT) {
  if (!isObject(obj)) return fallback;
  const v = obj[key];
  if (typeof v !== 'string') return fallback;
  return v.length > max ? `${v.slice(0, max)}…` : v;
}

export function obj(o, key) {
  if (!isObject(o)) return null;
  const v = o[key];
  return isObject(v) ? v : null;
}

// An array of at most max elements (the rest is ignored), or an empty one.
export function arr(o, key, max = 64) {
  if (!isObject(o)) return [];
  const v = o[key];
  return Array.isArray(v) ? v.slice(0, max) : [];
}
