// Unit tests of the page's pure parts: node --test (npm test).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff, MAX_DELAY_MS } from '../src/backoff.js';
import { parseStatus } from '../src/boxes.js';
import { ChatLog, MAX_SHOWN, parseChatEvent, parseChatHistory, parseChatRefusal, refusalMessage,
  trimChat } from '../src/chat.js';
import { CommandTracker, envelope, fateOfAck } from '../src/commands.js';
import { isAuthRefusal } from '../src/auth.js';
import { MAX_MESSAGE_BYTES, parseObject } from '../src/json.js';
import { MeterLease } from '../src/meter-lease.js';
import { parseMeters } from '../src/mixer.js';
import { controlOf, stepFor, validPresetName } from '../src/pedalboard.js';
import { admissionMessage, normalizeCode, validCode, validKey, validUser } from '../src/names.js';

// A clock whose timers run only when the test advances time.
class FakeClock {
  constructor() {
    this.t = 0;
    this.timers = new Map();
    this.nextId = 1;
  }
  now() {
    return this.t;
  }
  setTimeout(fn, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(id) {
    this.timers.delete(id);
  }
  advance(ms) {
    const end = this.t + ms;
    for (;;) {
      let first = null;
      for (const [id, tm] of this.timers) if (tm.at <= end && (!first || tm.at < first[1].at)) first = [id, tm];
      if (!first) break;
      this.timers.delete(first[0]);
      this.t = first[1].at;
      first[1].fn();
    }
    this.t = end;
  }
}

test('backoff doubles from 1 s to 300 s with 0..25 % jitter and resets', () => {
  const low = new Backoff(() => 0);
  const seq = Array.from({ length: 11 }, () => low.next());
  assert.deepEqual(seq, [1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 300000, 300000]);
  const high = new Backoff(() => 0.999999);
  assert.equal(high.next(), 1250);
  for (let i = 0; i < 40; i++) assert.ok(high.next() <= MAX_DELAY_MS * 1.25);
  low.reset();
  assert.equal(low.next(), 1000);
});

test('network JSON is size-capped, UTF-8 checked and must be an object', () => {
  const enc = (s) => new TextEncoder().encode(s);
  assert.deepEqual(parseObject(enc('{"a":1}')), { a: 1 });
  assert.equal(parseObject(enc('[1]')), null);
  assert.equal(parseObject(enc('nope')), null);
  assert.equal(parseObject(new Uint8Array([0x7b, 0xff, 0x7d])), null);
  assert.equal(parseObject(new Uint8Array(0)), null);
  const big = enc(`{"a":"${'x'.repeat(MAX_MESSAGE_BYTES)}"}`);
  assert.equal(parseObject(big), null);
});

test('status fields are type-checked: wrong types become unknown, the Will is offline', () => {
  const s = parseStatus({
    status: 'online', room: 42, members: '3', rtt_ms: 12.5, jack: { state: 'running', xruns: 2 },
    certificate: { expires_in_days: 12 }, peers: ['bob', { key: 'carol' }, 7, { evil: 1 }],
    remotes: [{ session_id: 5, gain_db: -3, pan: 'left', muted: false }, { session_id: -1 }, 'x'],
    admission: { room: 'ABC234', state: 'refused', error_code: 'room_full', error: 'full' },
    transport: { host: 'boxa', tempo_bpm: 100, metronome: true, playing: 'yes' },
  });
  assert.equal(s.room, null);
  assert.equal(s.members, null);
  assert.equal(s.rtt_ms, 12.5);
  assert.equal(s.jack.xruns, 2);
  assert.equal(s.cert_days, 12);
  assert.deepEqual(s.peers.map((p) => p.key), ['bob', 'carol']);
  assert.equal(s.remotes.length, 1);
  assert.equal(s.remotes[0].pan, null);
  assert.equal(s.admission.error_code, 'room_full');
  assert.equal(s.transport.playing, null);
  assert.deepEqual(parseStatus({ player_key: 'k', status: 'offline' }), { status: 'offline' });
  const m = parseStatus({ status: 'online', mix: { master_gain_db: -3, monitor: { on: 'yes', gain_db: 2 },
    muted_to_room: [true, 'no', true], jitter: { auto: false, floor_ms: 5 } } }).mix;
  assert.equal(m.master_gain_db, -3);
  assert.equal(m.monitor_on, null);
  assert.equal(m.monitor_gain_db, 2);
  assert.deepEqual(m.muted_to_room, [true, null]);
  assert.equal(m.jitter_auto, false);
  assert.equal(m.jitter_ceiling_ms, null);
  assert.equal(parseStatus({ status: 'online' }).mix, null);
});

test('names: user names, box keys and room codes', () => {
  assert.ok(validUser('alice'));
  assert.ok(!validUser('Alice'));
  assert.ok(!validUser('a/b'));
  assert.ok(!validUser('1abc'));
  assert.ok(!validUser('a'.repeat(33)));
  assert.ok(validKey('box-1.example'));
  for (const bad of ['', 'a/b', 'a+', '#', 'a\nb', 'x'.repeat(129)]) assert.ok(!validKey(bad), bad);
  assert.equal(normalizeCode(' ab3xyz '), 'AB3XYZ');
  assert.ok(validCode('AB3XYZ'));
  for (const bad of ['AB3XY', 'AB3XYZ7', 'ABCDE0', 'ABCDEO', 'ABCDE1', 'ABCDEI', 'ABCDEL']) {
    assert.ok(!validCode(bad), bad);
  }
  for (const code of ['code_taken', 'unknown_code', 'server_full', 'room_full', 'on_demand_disabled']) {
    assert.ok(!admissionMessage(code, '').startsWith('Refused'), code);
  }
  assert.equal(admissionMessage('other', 'the box said so'), 'the box said so');
});

test('CONNACK refusals of the credentials are recognised (MQTT 5 and 3.1.1)', () => {
  for (const code of [0x86, 0x87, 4, 5]) assert.ok(isAuthRefusal({ code }), String(code));
  for (const code of [0x80, 0x88, 0x9f, 3, undefined]) assert.ok(!isAuthRefusal({ code }), String(code));
  assert.ok(!isAuthRefusal(new Error('WebSocket error')));
});

test('commands: envelope, ack correlation, refusal, timeout and offline', () => {
  const clock = new FakeClock();
  const sent = [];
  let online = true;
  const tracker = new CommandTracker((key, text, failed) => {
    if (!online) return false;
    sent.push({ key, doc: JSON.parse(text), failed });
    return true;
  }, clock);
  const fates = [];
  tracker.send('boxa', 'set_master', { gain_db: -6 }, (f) => fates.push(f));
  const doc = sent[0].doc;
  assert.equal(doc.command_type, 'set_master');
  assert.deepEqual(doc.payload, { gain_db: -6 });
  assert.match(doc.command_id, /^[0-9a-f-]{36}$/);
  assert.equal(typeof doc.timestamp, 'number');
  // Another box's ack with the same id, and an ack for someone else's command, are not ours.
  assert.equal(tracker.onAck('boxb', { command_id: doc.command_id, status: 'ok' }), false);
  assert.equal(tracker.onAck('boxa', { command_id: 'other', status: 'ok' }), false);
  assert.equal(tracker.onAck('boxa', { command_id: doc.command_id, status: 'error', error: 'gain_db: must be within -60..12', error_code: 'invalid_request' }), true);
  assert.deepEqual(fates[0], { state: 'error', message: 'gain_db: must be within -60..12', code: 'invalid_request' });
  assert.equal(tracker.onAck('boxa', { command_id: doc.command_id, status: 'ok' }), false, 'answered once');

  tracker.send('boxa', 'ping', {}, (f) => fates.push(f));
  clock.advance(10001);
  assert.equal(fates[1].code, 'timeout');

  tracker.send('boxa', 'ping', {}, (f) => fates.push(f));
  sent[2].failed('the server refused the message');
  assert.equal(fates[2].state, 'error');
  assert.equal(fates[2].code, 'refused');

  online = false;
  tracker.send('boxa', 'ping', {}, (f) => fates.push(f));
  assert.equal(fates[3].code, 'offline');
  assert.equal(tracker.pending.size, 0);
  assert.equal(fateOfAck({ status: 'unsupported', error_code: 'unsupported_command' }).state, 'error');
  assert.equal(JSON.parse(envelope('i', 't')).payload && typeof JSON.parse(envelope('i', 't')).payload, 'object');
});

test('meter lease: renews below 4 s after a random delay, unless someone else renewed', () => {
  const clock = new FakeClock();
  let sends = 0;
  const lease = new MeterLease(() => sends++, clock, () => 0.5); // 750 ms spread
  lease.start();
  assert.equal(sends, 1, 'asks at once');
  clock.advance(2500);
  lease.onMeters(7500);
  lease.onMeters(3900); // low: schedule a renewal in 750 ms
  clock.advance(500);
  lease.onMeters(9800); // another page renewed meanwhile
  clock.advance(1000);
  assert.equal(sends, 1, 'no renewal after someone else renewed');
  for (let i = 0; i < 24; i++) { // meters keep flowing, the lease runs down
    clock.advance(250);
    lease.onMeters(9800 - 250 * (i + 1));
  }
  assert.equal(sends, 1, 'nothing while the lease is long');
  lease.onMeters(3500);
  clock.advance(700);
  assert.equal(sends, 1, 'waits the random delay');
  clock.advance(100);
  assert.equal(sends, 2, 'renews when nobody else did');
  lease.onMeters(3200); // still the old lease, in flight: no second renewal
  clock.advance(1600);
  assert.equal(sends, 2);
  lease.stop();
  clock.advance(60000);
  assert.equal(sends, 2, 'nothing after stop');
});

test('meter lease: without lease_ms_left renews every 5 s; a stopped stream is restarted', () => {
  const clock = new FakeClock();
  let sends = 0;
  const lease = new MeterLease(() => sends++, clock, () => 0);
  lease.start();
  for (let i = 0; i < 20; i++) {
    clock.advance(250);
    lease.onMeters(null);
  }
  assert.equal(sends, 2, 'one at start, one after 5 s');
  for (let i = 0; i < 20; i++) {
    clock.advance(250);
    lease.onMeters(null);
  }
  assert.equal(sends, 3);
  clock.advance(4000); // no meters at all for 4 s
  assert.ok(sends >= 4, 'the watchdog asked again');
  lease.stop();
});

// --- room chat -------------------------------------------------------------------------------

const msg = (seq, room = 'ABC234', extra = {}) =>
  parseChatEvent({ event: 'message', room, seq, time: 1700000000000 + seq, from: 'alice', box: 'box-a',
    text: `m${seq}`, ...extra });

test('chat: events are typed; anything else is no event', () => {
  const e = msg(3);
  assert.deepEqual(e, { event: 'message', room: 'ABC234', seq: 3, time: 1700000000003, from: 'alice',
    box: 'box-a', text: 'm3' });
  assert.deepEqual(parseChatEvent({ event: 'join', room: 'R', seq: 1, time: 5, box: 'box-b' }),
    { event: 'join', room: 'R', seq: 1, time: 5, from: null, box: 'box-b', text: null });
  const admin = parseChatEvent({ event: 'message', room: 'R', seq: 2, time: 5, from: 'admin', text: 'hi' });
  assert.equal(admin.box, null);
  // The text is kept as text, whatever it looks like; the page puts it in with textContent.
  assert.equal(msg(4, 'R', { text: '<img src=x onerror=alert(1)>' }).text, '<img src=x onerror=alert(1)>');
  for (const bad of [
    null, [], 'x', {},
    { event: 'shout', room: 'R', seq: 1, box: 'b' },
    { event: 'message', room: 'R', seq: 1, from: 'alice' }, // no text
    { event: 'message', room: 'R', seq: 1, text: 'x' }, // no sender
    { event: 'message', room: 'R', seq: '1', from: 'a', text: 'x' },
    { event: 'message', room: 'R', seq: 1.5, from: 'a', text: 'x' },
    { event: 'message', room: 'R', seq: -1, from: 'a', text: 'x' },
    { event: 'message', room: 'R', seq: 2 ** 60, from: 'a', text: 'x' },
    { event: 'message', room: 7, seq: 1, from: 'a', text: 'x' },
    { event: 'message', room: 'x'.repeat(65), seq: 1, from: 'a', text: 'x' },
    { event: 'message', room: 'R', seq: 1, from: 'a'.repeat(65), text: 'x' },
    { event: 'join', room: 'R', seq: 1 }, // no box
  ]) assert.equal(parseChatEvent(bad), null, JSON.stringify(bad));
  assert.equal(msg(5, 'R', { time: 'now' }).time, null);
  assert.ok(msg(6, 'R', { text: 'y'.repeat(5000) }).text.length <= 1001, 'a long text is clipped');
});

test('chat: history keeps its own room\'s events; refusals are typed', () => {
  const hist = parseChatHistory({ room: 'R', events: [
    { event: 'message', room: 'R', seq: 1, time: 1, from: 'a', box: 'b', text: 'x' },
    { event: 'message', room: 'OTHER', seq: 2, time: 1, from: 'a', box: 'b', text: 'y' },
    { event: 'join', room: 'R', seq: 3, time: 1, box: 'b' }, 'junk'] });
  assert.equal(hist.room, 'R');
  assert.deepEqual(hist.events.map((e) => e.seq), [1, 3]);
  assert.deepEqual(parseChatHistory({ room: 'R', events: 'no' }), { room: 'R', events: [] });
  assert.equal(parseChatHistory({ events: [] }), null);
  assert.deepEqual(parseChatRefusal({ user: 'bob', error_code: 'too_long', error: 'text: at most 500', client_id: 'm1' }),
    { user: 'bob', code: 'too_long', error: 'text: at most 500', clientId: 'm1' });
  assert.equal(parseChatRefusal({ user: 'bob', error_code: 'rate_limited' }).clientId, null);
  assert.equal(parseChatRefusal({ error_code: 'too_long' }), null);
  for (const code of ['too_long', 'rate_limited', 'not_in_room']) {
    assert.ok(!refusalMessage(code, 'raw').includes('raw') && refusalMessage(code, '').length > 20, code);
  }
  assert.match(refusalMessage('invalid_request', 'text: must not be empty'), /did not accept.*must not be empty/);
  assert.equal(refusalMessage('something_new', 'the reason'), 'the reason');
  assert.equal(trimChat(' \t hi there \r\n'), 'hi there');
  assert.equal(trimChat('\u00a0hi\u00a0'), '\u00a0hi\u00a0', 'only ASCII white space, as the server trims');
});

test('chat log: history and live events merge by seq, without duplicates, in order', () => {
  const log = new ChatLog();
  // Live events first (the page subscribed before its history request was answered) ...
  let c = log.merge('ABC234', [msg(52)]);
  assert.equal(c.reset, true);
  assert.deepEqual(c.added.map((e) => e.seq), [52]);
  c = log.merge('ABC234', [msg(53)]);
  assert.equal(c.reset, false);
  // ... then the history, which overlaps them, out of order and with a repeat.
  const history = [];
  for (let s = 4; s <= 53; s++) history.push(msg(s));
  c = log.merge('ABC234', [...history.reverse(), msg(10)]);
  assert.equal(c.reset, false);
  assert.deepEqual(c.added.map((e) => e.seq), Array.from({ length: 48 }, (_, i) => i + 4), 'only the new ones, ascending');
  assert.deepEqual(c.removed, []);
  assert.equal(log.size, 50);
  assert.deepEqual(log.events().map((e) => e.seq), Array.from({ length: 50 }, (_, i) => i + 4));
  // The same history again (another page asked for it): nothing changes.
  c = log.merge('ABC234', history);
  assert.deepEqual([c.added.length, c.removed.length, c.reset], [0, 0, false]);
  // An event of another room: the box is in another room now, the log starts afresh.
  c = log.merge('XYZ789', [msg(1, 'XYZ789')]);
  assert.equal(c.reset, true);
  assert.deepEqual(log.events().map((e) => [e.room, e.seq]), [['XYZ789', 1]]);
  // A stray event of that room through the history path is dropped.
  c = log.merge('XYZ789', [msg(2, 'ABC234')]);
  assert.equal(c.added.length, 0);
});

test('chat log: keeps at most 200 events, dropping the oldest', () => {
  const log = new ChatLog();
  assert.equal(MAX_SHOWN, 200);
  const first = [];
  for (let s = 1; s <= 150; s++) first.push(msg(s));
  log.merge('R', first.map((e) => ({ ...e, room: 'R' })));
  const more = [];
  for (let s = 151; s <= 230; s++) more.push({ ...msg(s), room: 'R' });
  const c = log.merge('R', more);
  assert.equal(log.size, 200);
  assert.deepEqual(c.removed, Array.from({ length: 30 }, (_, i) => i + 1), 'the 30 oldest go');
  assert.equal(c.added.length, 80);
  assert.equal(log.events()[0].seq, 31);
  assert.equal(log.events()[199].seq, 230);
  // An old event arriving late into a full log is not shown (it would go at once) ...
  const late = log.merge('R', [{ ...msg(5), room: 'R' }]);
  assert.deepEqual([late.added.length, late.removed.length], [0, 0]);
  // ... nor is one added and dropped in the same merge reported as either.
  const small = new ChatLog(3);
  const d = small.merge('R', [5, 1, 2, 3, 4].map((s) => ({ ...msg(s), room: 'R' })));
  assert.deepEqual(d.added.map((e) => e.seq), [3, 4, 5]);
  assert.deepEqual(d.removed, []);
  // Where a new element goes: before the next one shown.
  const shown = new Map([[3, 'x'], [5, 'y']]);
  assert.equal(small.nextShown(3, shown), 5);
  assert.equal(small.nextShown(4, shown), 5);
  assert.equal(small.nextShown(5, shown), null);
});

test('tuner readings in meters are typed; a claimed pitch needs a known note and sane values', () => {
  const m = parseMeters({
    inputs: [], master: [], remotes: [],
    tuner: [
      { input: 1, settling: false, pitch: true, frequency_hz: 110.02, note: 'A', octave: 2, cents: 0.3, confidence: 0.98 },
      { input: 2, settling: true, pitch: false, confidence: 0 },
      { input: 1, pitch: true, note: 'A', octave: 2, cents: 0.3, frequency_hz: 110 }, // beyond 2 entries
    ],
  });
  assert.deepEqual(m.tuners, [
    { input: 1, state: 'pitch', note: 'A', octave: 2, cents: 0.3, hz: 110.02 },
    { input: 2, state: 'settling' },
  ]);
  const hostile = parseMeters({
    tuner: [
      { input: 1, pitch: true, note: '<img src=x>', octave: 2, cents: 1, frequency_hz: 110 },
      { input: 2, pitch: true, note: 'E', octave: 2, cents: 400, frequency_hz: 82 },
    ],
  });
  assert.deepEqual(hostile.tuners, [{ input: 1, state: 'none' }, { input: 2, state: 'none' }]);
  assert.deepEqual(parseMeters({ tuner: [{ input: 3, pitch: true }, 'x', null] }).tuners, []);
  assert.deepEqual(parseMeters({ tuner: 'many' }).tuners, []);
  assert.deepEqual(parseMeters({}).tuners, []);
});

test('status: mix.tuner is read as two booleans', () => {
  const s = parseStatus({ player_key: 'box-a', status: 'online', mix: { tuner: [true, 'yes'] } });
  assert.deepEqual(s.mix.tuner, [true, null]);
});


test('the status pedalboard is read with limits: at most 8 pedals a channel, two channels', () => {
  const pedals = Array.from({ length: 12 }, (_, i) => ({ uri: `urn:p${i}`, name: `P${i}`, bypassed: i === 1 }));
  const s = parseStatus({ status: 'online', board: { ready: true, channels: [
    { pedals: [...pedals, 'junk', { name: 'no uri' }], load: 0.04, peak_load: 0.1, overloaded: false },
    { pedals: [], overloaded: true, missing: ['urn:gone: not installed', 7] },
    { pedals: pedals }] } });
  assert.equal(s.board.ready, true);
  assert.equal(s.board.channels.length, 2);
  assert.equal(s.board.channels[0].pedals.length, 8);
  assert.equal(s.board.channels[0].pedals[1].bypassed, true);
  assert.equal(s.board.channels[0].load, 0.04);
  assert.equal(s.board.channels[1].overloaded, true);
  assert.deepEqual(s.board.channels[1].missing, ['urn:gone: not installed']);
  assert.equal(parseStatus({ status: 'online' }).board, null);
  assert.equal(parseStatus({ status: 'online', board: { channels: 'x' } }).board.channels[1].pedals.length, 0);
});

test('pedal controls: knobs only from well-formed controls, steps by kind, preset names', () => {
  assert.equal(controlOf({ symbol: 'gain' }), null);
  assert.equal(controlOf({ symbol: 'gain', minimum: 2, maximum: 1 }), null);
  const c = controlOf({ symbol: 'gain', name: 'Gain', minimum: -90, maximum: 24, default: 99, unit: 'dB' });
  assert.equal(c.def, 24);
  assert.equal(c.unit, 'dB');
  assert.equal(stepFor(c), 114 / 200);
  const e = controlOf({ symbol: 'mode', minimum: 0, maximum: 2, integer: true,
    enumeration: [{ value: 0, label: 'A' }, { value: 'x', label: 'bad' }, { value: 2, label: 'C' }] });
  assert.deepEqual(e.choices.map((x) => x.value), [0, 2]);
  assert.equal(stepFor(e), 1);
  assert.ok(validPresetName('crunch 1'));
  assert.ok(!validPresetName('../etc'));
  assert.ok(!validPresetName('.hidden'));
  assert.ok(!validPresetName('x'.repeat(33)));
});
