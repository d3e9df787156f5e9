// What the page knows about each box it may see, built only from typed fields of the box's own
// messages (state, status, Last Will, get_status answers). A box's document is never kept as
// it came: each field is read with a type check and bounded.

import { arr, bool, isObject, num, obj, str } from './json.js';

const MAX_BOXES = 256;

function remoteOf(r) {
  if (!isObject(r)) return null;
  const id = num(r, 'session_id');
  if (id === null || !Number.isInteger(id) || id < 1 || id > 0xffffffff) return null;
  return {
    session_id: id,
    gain_db: num(r, 'gain_db'),
    pan: num(r, 'pan'),
    muted: bool(r, 'muted'),
    received: num(r, 'received'),
    depth_ms: num(r, 'depth_ms'),
    target_ms: num(r, 'target_ms'),
    jitter_ms: num(r, 'jitter_ms'),
    underruns: num(r, 'underruns'),
    concealed: num(r, 'concealed'),
    late: num(r, 'late'),
  };
}

// Roster entries are player keys (strings); objects with a key are read too, so a richer roster
// does not break the page.
function peerOf(p) {
  if (typeof p === 'string') return p.length > 0 && p.length <= 128 ? { key: p } : null;
  const key = str(p, 'key', null, 128) || str(p, 'player_key', null, 128);
  return key ? { key } : null;
}

// A roster member from the box's status: its key, and what its presence said of its audio.
function memberOf(m) {
  const key = str(m, 'key', null, 128);
  if (!key) return null;
  const session = num(m, 'session_id');
  const rtt = num(m, 'rtt_ms');
  return {
    key,
    session_id: Number.isInteger(session) && session >= 0 ? session : null,
    rtt_ms: typeof rtt === 'number' && rtt >= 0 && rtt < 60000 ? rtt : null,
  };
}

// The typed view of a status document.
// The status's pedalboard (docs/pedalboard.md): per input, its pedals and the chain's load.
export function boardOf(b) {
  if (!b) return null;
  const channels = arr(b, 'channels', 2).map((c) => ({
    pedals: arr(c, 'pedals', 8).filter(isObject).map((p) => ({
      uri: str(p, 'uri', '', 512),
      name: str(p, 'name', '', 128),
      bypassed: bool(p, 'bypassed', false),
    })).filter((p) => p.uri !== ''),
    load: num(c, 'load', 0),
    peak_load: num(c, 'peak_load', 0),
    overloaded: bool(c, 'overloaded', false),
    missing: arr(c, 'missing', 8).filter((m) => typeof m === 'string').map((m) => m.slice(0, 300)),
  }));
  while (channels.length < 2) channels.push({ pedals: [], load: 0, peak_load: 0, overloaded: false, missing: [] });
  return { ready: bool(b, 'ready', false), channels };
}

export function parseStatus(doc) {
  const s = { status: str(doc, 'status', null, 16) };
  if (s.status === 'offline') return s; // Last Will / clean stop: nothing else to read
  s.room = str(doc, 'room', null, 64);
  s.server = str(doc, 'server', null, 255);
  s.link = str(doc, 'link', null, 32);
  s.members = num(doc, 'members');
  s.rtt_ms = num(doc, 'rtt_ms');
  s.connection_state = str(doc, 'connection_state', null, 32);
  s.firmware_version = str(doc, 'firmware_version', null, 64);
  s.problem = str(doc, 'problem', null, 300);
  const jack = obj(doc, 'jack');
  s.jack = jack
    ? { state: str(jack, 'state', null, 32), xruns: num(jack, 'xruns'), period: num(jack, 'period'),
        sample_rate: num(jack, 'sample_rate') }
    : null;
  const cert = obj(doc, 'certificate');
  s.cert_days = cert ? num(cert, 'expires_in_days') : null;
  s.remotes = arr(doc, 'remotes', 64).map(remoteOf).filter(Boolean);
  s.peers = arr(doc, 'peers', 64).map(peerOf).filter(Boolean);
  s.roster = arr(doc, 'roster', 64).map(memberOf).filter(Boolean);
  const t = obj(doc, 'transport');
  s.transport = t
    ? { host: str(t, 'host', null, 128), tempo_bpm: num(t, 'tempo_bpm'),
        metronome: bool(t, 'metronome'), playing: bool(t, 'playing') }
    : null;
  // The box's own mix settings (what its controls are set to), when it reports them.
  const mix = obj(doc, 'mix');
  if (mix) {
    const monitor = obj(mix, 'monitor');
    const metro = obj(mix, 'metronome');
    const jitter = obj(mix, 'jitter');
    const muted = arr(mix, 'muted_to_room', 2);
    const tuner = arr(mix, 'tuner', 2);
    s.mix = {
      master_gain_db: num(mix, 'master_gain_db'),
      monitor_on: bool(monitor, 'on'),
      monitor_gain_db: num(monitor, 'gain_db'),
      metronome_on: bool(metro, 'on'),
      metronome_bpm: num(metro, 'bpm'),
      muted_to_room: [0, 1].map((i) => (typeof muted[i] === 'boolean' ? muted[i] : null)),
      tuner: [0, 1].map((i) => (typeof tuner[i] === 'boolean' ? tuner[i] : null)),
      jitter_floor_ms: num(jitter, 'floor_ms'),
      jitter_ceiling_ms: num(jitter, 'ceiling_ms'),
      jitter_auto: bool(jitter, 'auto'),
    };
  } else {
    s.mix = null;
  }
  s.board = boardOf(obj(doc, 'board'));
  const a = obj(doc, 'admission');
  s.admission = a
    ? { room: str(a, 'room', null, 64), state: str(a, 'state', null, 32),
        request_id: str(a, 'request_id', null, 128), error_code: str(a, 'error_code', null, 64),
        error: str(a, 'error', null, 300) }
    : null;
  return s;
}

export class BoxStore {
  constructor(onChange) {
    this.boxes = new Map();
    this.onChange = onChange || (() => {});
  }

  get(key) {
    return this.boxes.get(key) || null;
  }

  // Returns the box, creating it (bounded) when new.
  ensure(key) {
    let b = this.boxes.get(key);
    if (b) return b;
    if (this.boxes.size >= MAX_BOXES) return null;
    b = { key, presence: null, noAnswer: false, stateRoom: null, status: null, probed: false };
    this.boxes.set(key, b);
    return b;
  }

  online(b) {
    return b.presence === true && !b.noAnswer;
  }

  // Retained {p}/player/K/state: {player_key, online, room, timestamp}.
  onState(key, doc) {
    const b = this.ensure(key);
    if (!b) return null;
    const online = bool(doc, 'online');
    if (online !== null) b.presence = online;
    b.stateRoom = str(doc, 'room', null, 64);
    this.onChange(b);
    return b;
  }

  // {p}/player/K/status, the Last Will on it, or a get_status answer.
  onStatus(key, doc) {
    const b = this.ensure(key);
    if (!b) return null;
    const s = parseStatus(doc);
    if (s.status === 'offline') {
      b.presence = false;
    } else {
      b.presence = true;
      b.noAnswer = false;
      b.status = s;
    }
    this.onChange(b);
    return b;
  }

  // Anything at all from the box shows it is alive.
  heard(key) {
    const b = this.boxes.get(key);
    if (b && b.noAnswer) {
      b.noAnswer = false;
      this.onChange(b);
    }
  }

  noAnswer(key) {
    const b = this.boxes.get(key);
    if (!b) return;
    b.noAnswer = true;
    this.onChange(b);
  }
}
