// The chat of the room the open box is in. The room server relays it (docs/control-plane.md,
// "Room chat"); the page only ever talks to its box's own topics:
//   out  {p}/player/K/chat/from/USER         {"text", "client_id"} or {"history": true, "client_id"}
//   in   {p}/player/K/room/chat               one event: message, join or leave
//        {p}/player/K/room/chat/history      {"room", "events": [...]}, oldest first
//        {p}/player/K/room/chat/refused      {"user", "error_code", "error", "client_id"?}
// History and live events overlap (a history may arrive after some of its events did, or again
// when another page asks for it): the log merges them by the room's sequence number.

import { h, text } from './dom.js';
import { arr, isObject, num, str } from './json.js';

// What the field takes (counted as the field counts, in UTF-16 units, which is never more than
// the room server's count of characters).
export const MAX_CHAT_CHARS = 500;
// Events kept in the page; older ones go.
export const MAX_SHOWN = 200;
// A message in the field waits this long for the room server's echo or refusal.
export const ANSWER_TIMEOUT_MS = 10000;
// Not worth publishing: the server refuses anything over 4096 bytes, and a broker may end the
// session of a client that sends an oversized packet.
const MAX_PAYLOAD_BYTES = 4096;
const MAX_TEXT_SHOWN = 1000; // 500 characters are at most 1000 UTF-16 units
const HISTORY_RETRY_MS = 5000;
const HISTORY_TRIES = 3;

// The room server trims ASCII white space only (lib/message chat.cpp): so does the page, so that
// the echo of a message can be recognised.
export function trimChat(s) {
  return typeof s === 'string' ? s.replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, '') : '';
}

// A bounded identifier (room name, box key, user name): too long or empty is no value at all,
// never a clipped one.
function ident(doc, key, max) {
  const v = isObject(doc) ? doc[key] : undefined;
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : null;
}

// One event as the room server publishes it, typed; null when it is not one.
export function parseChatEvent(doc) {
  const event = ident(doc, 'event', 16);
  if (event !== 'message' && event !== 'join' && event !== 'leave') return null;
  const room = ident(doc, 'room', 64);
  const seq = num(doc, 'seq');
  if (room === null || seq === null || !Number.isSafeInteger(seq) || seq < 0) return null;
  const time = num(doc, 'time');
  const e = {
    event,
    room,
    seq,
    time: time !== null && time > 0 && time < 1e14 ? time : null,
    from: null,
    box: ident(doc, 'box', 128),
    text: null,
  };
  if (event === 'message') {
    e.from = ident(doc, 'from', 64);
    e.text = str(doc, 'text', null, MAX_TEXT_SHOWN);
    if (e.from === null || e.text === null) return null;
  } else if (e.box === null) {
    return null;
  }
  return e;
}

// {"room", "events"}: the events of that room only.
export function parseChatHistory(doc) {
  const room = ident(doc, 'room', 64);
  if (room === null) return null;
  const events = [];
  for (const d of arr(doc, 'events', MAX_SHOWN)) {
    const e = parseChatEvent(d);
    if (e && e.room === room) events.push(e);
  }
  return { room, events };
}

export function parseChatRefusal(doc) {
  const user = ident(doc, 'user', 64);
  const code = ident(doc, 'error_code', 32);
  if (user === null || code === null) return null;
  return { user, code, error: str(doc, 'error', '', 300), clientId: ident(doc, 'client_id', 64) };
}

const REFUSALS = {
  too_long: `Your message is too long: at most ${MAX_CHAT_CHARS} characters. It is still in the field.`,
  rate_limited: 'You are sending too fast (at most 10 messages in 10 seconds). Wait a moment, then send again.',
  not_in_room: 'The box is not in a room, so nobody would read this. Create or join a room first.',
  invalid_request: 'The room server did not accept this message',
};

export function refusalMessage(code, error) {
  if (code === 'invalid_request') return error ? `${REFUSALS.invalid_request}: ${error}` : `${REFUSALS.invalid_request}.`;
  if (Object.prototype.hasOwnProperty.call(REFUSALS, code)) return REFUSALS[code];
  return error || `Refused: ${code}`;
}

// The room's events in sequence order, without duplicates, at most `max`.
export class ChatLog {
  constructor(max = MAX_SHOWN) {
    this.max = max;
    this.room = null;
    this.seqs = []; // ascending
    this.bySeq = new Map();
  }

  get size() {
    return this.seqs.length;
  }

  events() {
    return this.seqs.map((s) => this.bySeq.get(s));
  }

  // Events of `room` (any order, known ones ignored). Another room than the log's starts the
  // log afresh: sequence numbers count per room. Returns what the view must change:
  // { reset, added (ascending), removed (seqs) }.
  merge(room, events) {
    const changes = { reset: false, added: [], removed: [] };
    if (room !== this.room) {
      changes.reset = true;
      this.room = room;
      this.seqs = [];
      this.bySeq.clear();
    }
    const added = new Set();
    for (const e of events) {
      if (!e || e.room !== room || this.bySeq.has(e.seq)) continue;
      // Older than everything kept in a full log: it would go again at once.
      if (this.seqs.length >= this.max && e.seq < this.seqs[0]) continue;
      this.seqs.splice(this.insertionIndex(e.seq), 0, e.seq);
      this.bySeq.set(e.seq, e);
      added.add(e.seq);
    }
    while (this.seqs.length > this.max) {
      const gone = this.seqs.shift();
      this.bySeq.delete(gone);
      if (!added.delete(gone)) changes.removed.push(gone);
    }
    changes.added = [...added].sort((a, b) => a - b).map((s) => this.bySeq.get(s));
    return changes;
  }

  insertionIndex(seq) {
    let lo = 0;
    let hi = this.seqs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.seqs[mid] < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // The next kept seq after `seq` that `shown` has, or null (where to insert a new element).
  nextShown(seq, shown) {
    for (let i = this.insertionIndex(seq + 1); i < this.seqs.length; i++) {
      if (shown.has(this.seqs[i])) return this.seqs[i];
    }
    return null;
  }
}

function randomId() {
  const b = new Uint8Array(6);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function clock(ms) {
  const d = new Date(ms);
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

// The chat panel of box `key`, for the signed-in `user`. send(payloadText, failed(message))
// publishes on the box's chat topic and returns false when not connected.
export class ChatPanel {
  constructor({ key, user, send, timers = globalThis }) {
    this.key = key;
    this.user = user;
    this.send = send;
    this.timers = timers;
    this.log = new ChatLog();
    this.items = new Map(); // seq -> element
    this.pending = null; // { id, text, timer }: the message in the field, sent, not yet answered
    this.history = null; // { id, tries, timer }: our history request, not yet answered
    this.connected = false;
    this.inRoom = null; // true, false, or null (not known yet)
    this.statusRoom = undefined; // the room in the box's latest status (compared on change only)
    this.counter = 0;

    this.roomLine = h('p', { id: 'chat-room', className: 'muted', role: 'status' }, 'Waiting for the room…');
    this.list = h('ol', { id: 'chat-log', className: 'chat-log', role: 'log', 'aria-live': 'polite',
      'aria-relevant': 'additions', 'aria-label': 'Room chat messages', tabindex: '0' });
    this.empty = h('p', { className: 'muted chat-empty' }, 'No messages yet.');
    this.newer = h('button', { type: 'button', className: 'secondary chat-newer', hidden: true,
      onclick: () => this.scrollToEnd() }, 'New messages below');
    this.list.addEventListener('scroll', () => {
      if (this.atEnd()) this.newer.hidden = true;
    });
    this.input = h('input', { id: 'chat-input', type: 'text', maxlength: MAX_CHAT_CHARS, autocomplete: 'off',
      enterkeyhint: 'send', 'aria-describedby': 'chat-count chat-error' });
    this.input.addEventListener('input', () => this.showCount());
    this.sendBtn = h('button', { id: 'chat-send', type: 'submit' }, 'Send');
    this.count = h('span', { id: 'chat-count', className: 'muted chat-count' });
    this.error = h('p', { id: 'chat-error', className: 'error', role: 'alert' });
    // Enter in the field submits the form; the handler stops the browser's own submission.
    const form = h('form', { className: 'chat-form', novalidate: true, onsubmit: (e) => {
      e.preventDefault();
      this.submit();
    } },
    h('label', { for: 'chat-input' }, 'Message to the room'),
    h('div', { className: 'chat-row' }, this.input, this.sendBtn),
    this.count);
    this.el = h('div', { id: 'chat', className: 'chat', 'data-in-room': 'unknown' },
      this.roomLine, this.list, this.empty, this.newer, form, this.error);
    this.showCount();
    this.showRoom();
  }

  // --- the connection and the box -----------------------------------------------------------

  setConnected(connected) {
    if (this.connected && !connected && this.pending) {
      this.release();
      this.setError('The connection was lost before the room server answered: the message is still in the field.', 'offline');
    }
    this.connected = connected;
    this.showRoom();
  }

  close() {
    if (this.pending) this.timers.clearTimeout(this.pending.timer);
    if (this.history) this.timers.clearTimeout(this.history.timer);
    this.pending = null;
    this.history = null;
  }

  // Called once the page's subscription to the box's room topics is in place (again after every
  // reconnect): what was said meanwhile comes with the history.
  subscribed() {
    this.requestHistory(HISTORY_TRIES);
  }

  // this.history: { id (null while waiting to ask again), tries left, timer }.
  requestHistory(tries) {
    this.historyDone();
    const id = `h${randomId()}`;
    if (!this.send(JSON.stringify({ history: true, client_id: id }), () => {})) return;
    // Unanswered (lost, or refused as too fast): ask again a few times.
    const timer = this.timers.setTimeout(() => this.retryHistory(), ANSWER_TIMEOUT_MS);
    this.history = { id, tries: tries - 1, timer };
  }

  retryHistory() {
    const last = this.history;
    this.historyDone();
    if (!last || last.tries <= 0 || !this.connected) return;
    const timer = this.timers.setTimeout(() => this.requestHistory(last.tries), HISTORY_RETRY_MS);
    this.history = { id: null, tries: last.tries, timer };
  }

  historyDone() {
    if (!this.history) return;
    this.timers.clearTimeout(this.history.timer);
    this.history = null;
  }

  // The box's status (boxes.js parseStatus). Only a change of its room says something: a
  // status may be older than the chat events that came meanwhile.
  onStatus(status) {
    if (!status || status.room === undefined) return;
    const room = status.room || null;
    if (room === this.statusRoom) return;
    this.statusRoom = room;
    this.inRoom = room !== null;
    this.showRoom();
  }

  // --- from the room server -------------------------------------------------------------------

  onEvent(doc) {
    const e = parseChatEvent(doc);
    if (!e) return;
    // Only members' boxes get their room's events.
    this.inRoom = true;
    this.show(this.log.merge(e.room, [e]));
    if (e.event === 'message' && e.from === this.user && e.box === this.key) this.echoed(e.text);
    this.showRoom();
  }

  onHistory(doc) {
    const hist = parseChatHistory(doc);
    if (!hist) return;
    this.inRoom = true;
    this.historyDone();
    this.show(this.log.merge(hist.room, hist.events));
    this.showRoom();
  }

  onRefusal(doc) {
    const r = parseChatRefusal(doc);
    if (!r || r.user !== this.user) return;
    if (r.clientId !== null) {
      if (this.pending && r.clientId === this.pending.id) this.refused(r);
      else if (this.history && r.clientId === this.history.id) this.historyRefused(r);
      // Otherwise another page of the same musician sent it.
      return;
    }
    // A refusal the server could not tie to a message (too fast: refused before reading it; or
    // unreadable): ours if we are waiting for an answer.
    if (this.pending) this.refused(r);
    else if (this.history && this.history.id !== null) this.historyRefused(r);
  }

  historyRefused(r) {
    if (r.code === 'not_in_room') {
      this.historyDone();
      this.inRoom = false;
      this.showRoom();
    } else {
      this.retryHistory();
    }
  }

  // --- sending ------------------------------------------------------------------------------

  submit() {
    if (this.pending) return; // the field holds the message until the server answers
    const t = trimChat(this.input.value);
    if (t === '') {
      this.setError('Type a message first.', 'empty');
      this.input.focus();
      return;
    }
    const id = `m${randomId()}${++this.counter}`;
    const payload = JSON.stringify({ text: t, client_id: id });
    if (new TextEncoder().encode(payload).length > MAX_PAYLOAD_BYTES) {
      this.setError(REFUSALS.too_long, 'too_long');
      return;
    }
    const sent = this.send(payload, (why) => {
      if (this.pending && this.pending.id === id) this.refused({ code: 'refused', error: why });
    });
    if (!sent) {
      this.setError('Not connected to the server: the message is still in the field. Send it again once connected.', 'offline');
      return;
    }
    this.setError('', '');
    const timer = this.timers.setTimeout(() => {
      if (!this.pending || this.pending.id !== id) return;
      this.release();
      this.setError('The room server has not answered: the message is still in the field. Send it again if it does not appear.', 'timeout');
    }, ANSWER_TIMEOUT_MS);
    this.pending = { id, text: t, timer };
    this.input.readOnly = true;
    this.input.setAttribute('aria-busy', 'true');
    this.sendBtn.disabled = true;
  }

  echoed(t) {
    if (!this.pending || this.pending.text !== t) return;
    this.release();
    this.input.value = '';
    this.showCount();
  }

  refused(r) {
    this.release();
    this.setError(refusalMessage(r.code, r.error), r.code);
    if (r.code === 'not_in_room') {
      this.inRoom = false;
      this.showRoom();
    }
    this.input.focus();
  }

  release() {
    if (this.pending) this.timers.clearTimeout(this.pending.timer);
    this.pending = null;
    this.input.readOnly = false;
    this.input.removeAttribute('aria-busy');
    this.sendBtn.disabled = !this.connected;
  }

  setError(message, code) {
    text(this.error, message);
    if (code) this.error.setAttribute('data-code', code);
    else this.error.removeAttribute('data-code');
  }

  showCount() {
    const n = this.input.value.length;
    text(this.count, `${n} / ${MAX_CHAT_CHARS}`);
    this.count.classList.toggle('over', n > MAX_CHAT_CHARS);
  }

  showRoom() {
    let line;
    if (this.inRoom === false) {
      line = 'This box is not in a room. Create or join a room above to chat with the others.';
    } else if (this.inRoom === true) {
      // The room of the events shown; the status's until one arrives.
      const room = this.log.room || this.statusRoom;
      line = room ? `Chat of room ${room}` : 'Chat of the room';
    } else {
      line = 'Waiting for the box to report its room…';
    }
    text(this.roomLine, line);
    this.el.setAttribute('data-in-room', this.inRoom === null ? 'unknown' : String(this.inRoom));
    this.el.classList.toggle('no-room', this.inRoom === false);
    this.sendBtn.disabled = !this.connected || this.pending !== null;
  }

  // --- the list -------------------------------------------------------------------------------

  atEnd() {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 32;
  }

  scrollToEnd() {
    this.list.scrollTop = this.list.scrollHeight;
    this.newer.hidden = true;
  }

  show(changes) {
    const follow = changes.reset || this.atEnd();
    if (changes.reset) {
      this.items.clear();
      this.list.replaceChildren();
    }
    for (const seq of changes.removed) {
      const el = this.items.get(seq);
      if (el) el.remove();
      this.items.delete(seq);
    }
    for (const e of changes.added) {
      const el = this.item(e);
      const next = this.log.nextShown(e.seq, this.items);
      this.list.insertBefore(el, next === null ? null : this.items.get(next));
      this.items.set(e.seq, el);
    }
    this.empty.hidden = this.items.size > 0;
    if (changes.added.length === 0) return;
    // Follow the conversation unless the reader scrolled up to read older messages.
    if (follow) this.scrollToEnd();
    else this.newer.hidden = false;
  }

  item(e) {
    const when = e.time === null ? null : h('time', { className: 'chat-time', datetime: new Date(e.time).toISOString(),
      title: new Date(e.time).toLocaleString() }, clock(e.time));
    if (e.event === 'message') {
      const mine = e.from === this.user && e.box === this.key;
      const from = e.box && e.from !== 'admin'
        ? h('span', { className: 'chat-from' }, e.from, h('span', { className: 'chat-box' }, ` · ${e.box}`))
        : h('span', { className: 'chat-from' }, e.from);
      return h('li', { className: `chat-item chat-message${mine ? ' mine' : ''}${e.from === 'admin' ? ' admin' : ''}`,
        'data-seq': String(e.seq) },
      h('div', { className: 'chat-meta' }, from, ' ', when),
      h('p', { className: 'chat-text' }, e.text));
    }
    const own = e.box === this.key;
    return h('li', { className: 'chat-item chat-note', 'data-seq': String(e.seq) },
      h('span', { className: 'chat-from' }, own ? `${e.box} (this box)` : e.box), ' ',
      h('span', { className: 'chat-text' }, e.event === 'join' ? 'joined the room' : 'left the room'), ' ', when);
  }
}
