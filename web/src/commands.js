// Commands to boxes (docs/control-plane.md): the envelope, and the wait for each one's ack.
// Every command gets exactly one ack from the box on {p}/player/K/command/ack, which every
// viewer of the box receives: only acks for this page's own command ids are taken.

import { isObject, str } from './json.js';

export const ACK_TIMEOUT_MS = 10000;
const MAX_PENDING = 256;

export function uuid() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const b = new Uint8Array(16);
  c.getRandomValues(b);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function envelope(id, type, payload) {
  return JSON.stringify({
    command_id: id,
    command_type: type,
    payload: payload || {},
    timestamp: Math.floor(Date.now() / 1000),
  });
}

// The fate of one command as the page shows it.
//   { state: 'ok', result } | { state: 'error', message, code }
export function fateOfAck(ack) {
  const status = str(ack, 'status', '');
  if (status === 'ok') return { state: 'ok', result: isObject(ack) ? ack.result : undefined };
  const code = str(ack, 'error_code', '', 64);
  const message =
    str(ack, 'error', '', 300) ||
    (status === 'unsupported' ? 'this box does not know this command' : code || 'refused');
  return { state: 'error', message, code };
}

export class CommandTracker {
  // publish(key, text, failed(message)) -> boolean (false: not connected); failed is called when
  // the server refuses the publish.
  constructor(publish, clock = globalThis) {
    this.publish = publish;
    this.clock = clock;
    this.pending = new Map(); // command_id -> { key, type, done, timer }
  }

  // Sends a command; done(fate) is called exactly once: with the box's ack, or an error when
  // the page is offline, the server refuses the publish or the box does not answer in time.
  send(key, type, payload, done = () => {}) {
    if (this.pending.size >= MAX_PENDING) {
      done({ state: 'error', message: 'too many commands waiting for the box', code: 'local' });
      return null;
    }
    const id = uuid();
    const timer = this.clock.setTimeout(
      () => this.settle(id, { state: 'error', message: 'no answer from the box', code: 'timeout' }),
      ACK_TIMEOUT_MS,
    );
    this.pending.set(id, { key, type, done, timer });
    const sent = this.publish(key, envelope(id, type, payload), (message) =>
      this.settle(id, { state: 'error', message, code: 'refused' }),
    );
    if (!sent) {
      this.settle(id, { state: 'error', message: 'not connected to the server', code: 'offline' });
      return null;
    }
    return id;
  }

  settle(id, fate) {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    this.clock.clearTimeout(p.timer);
    p.done(fate);
    return true;
  }

  // An ack from box key. Returns true when it answered one of ours.
  onAck(key, ack) {
    const id = str(ack, 'command_id', null, 128);
    if (id === null) return false;
    const p = this.pending.get(id);
    if (!p || p.key !== key) return false;
    return this.settle(id, fateOfAck(ack));
  }

  // The connection is gone: nothing will be answered any more on this one.
  failAll(message) {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      this.clock.clearTimeout(p.timer);
      p.done({ state: 'error', message, code: 'offline' });
    }
  }
}
