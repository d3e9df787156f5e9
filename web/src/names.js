// Names the page puts into topics or shows, checked before use.

// Musicians' user names (docs: 1..32 of a-z 0-9 _ -, starting with a letter). The name becomes a
// topic level, so anything else (a '/', '+' or '#') must never get that far.
export const USER_RE = /^[a-z][a-z0-9_-]{0,31}$/;

// A box key is one topic level (the box's own rule, lib/control topics.cpp): 1..128 bytes
// without '/', '+', '#' or control characters. Counted in UTF-8 bytes like the box does.
// eslint-disable-next-line no-control-regex
const KEY_FORBIDDEN = /[/+#\u0000-\u001f\u007f]/;

export function validUser(name) {
  return typeof name === 'string' && USER_RE.test(name);
}

export function validKey(key) {
  if (typeof key !== 'string' || key.length === 0 || KEY_FORBIDDEN.test(key)) return false;
  return new TextEncoder().encode(key).length <= 128;
}

// Room codes: 6 characters without the look-alikes 0 O 1 I L; typed in any case.
export const CODE_ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const CODE_RE = /^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$/;

export function normalizeCode(text) {
  return typeof text === 'string' ? text.trim().toUpperCase() : '';
}

export function validCode(code) {
  return CODE_RE.test(code);
}

// What the room server's refusals mean to a musician (status admission.error_code).
const ADMISSION_MESSAGES = {
  code_taken: 'That room code is already in use. Pick another code or leave it empty.',
  unknown_code: 'There is no room with that code. Check the code with the person who made it.',
  server_full: 'The room server has no space for another room right now. Try again later.',
  room_full: 'The room is full. The box keeps asking and joins when a place frees up.',
  on_demand_disabled: 'This room server does not make rooms on request.',
  unknown_room: 'There is no such room.',
  invalid_request: 'The room server refused the request.',
  timed_out: 'The room server did not answer. The box keeps asking.',
};

export function admissionMessage(code, fallback) {
  if (typeof code === 'string' && Object.prototype.hasOwnProperty.call(ADMISSION_MESSAGES, code)) {
    return ADMISSION_MESSAGES[code];
  }
  return fallback || (code ? `Refused: ${code}` : 'Refused.');
}
