// One box's mixer: live meters, the box's mix controls, its room and the room's transport.
// Values shown come from the box's status; each control tracks its own command (control.js).

import { Control } from './control.js';
import { h, text, fmt } from './dom.js';
import { arr, bool, isObject, num } from './json.js';
import { admissionMessage, normalizeCode, validCode } from './names.js';
import { Pedalboard } from './pedalboard.js';

const SILENCE_DB = -120;
const METER_FLOOR_DB = -60;

const dB = (v) => `${v > 0 ? '+' : ''}${Number(v).toFixed(1)} dB`;
const panText = (v) => (Math.abs(v) < 0.005 ? 'C' : v < 0 ? `L${Math.round(-v * 100)}` : `R${Math.round(v * 100)}`);
const ms = (v) => `${Number(v).toFixed(0)} ms`;
const bpm = (v) => `${Number(v).toFixed(0)} BPM`;

function levelOf(v) {
  // Silence may come as -120 or, from a serializer without infinities, as null.
  const peak = num(v, 'peak_dbfs', SILENCE_DB);
  const rms = num(v, 'rms_dbfs', SILENCE_DB);
  return { peak: Math.max(SILENCE_DB, Math.min(20, peak)), rms: Math.max(SILENCE_DB, Math.min(20, rms)) };
}

const NOTES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];

// One tuner reading of a meters message (status_report.cpp tuner_document), or null. A reading
// that claims a pitch must carry a known note name and values in range, or it says "no pitch".
function tunerOf(t) {
  const input = num(t, 'input');
  if (input !== 1 && input !== 2) return null;
  if (bool(t, 'settling') === true) return { input, state: 'settling' };
  const note = isObject(t) && typeof t.note === 'string' && NOTES.includes(t.note) ? t.note : null;
  const octave = num(t, 'octave');
  const cents = num(t, 'cents');
  const hz = num(t, 'frequency_hz');
  if (bool(t, 'pitch') !== true || note === null || !Number.isInteger(octave) || octave < -1 ||
      octave > 9 || cents === null || Math.abs(cents) > 50 || hz === null || hz <= 0 || hz > 5000) {
    return { input, state: 'none' };
  }
  return { input, state: 'pitch', note, octave, cents, hz };
}

// The typed view of a meters message (status_report.cpp meters_document, plus lease_ms_left).
export function parseMeters(doc) {
  const inputs = arr(doc, 'inputs', 2).map(levelOf);
  const master = arr(doc, 'master', 2).map(levelOf);
  const remotes = [];
  for (const r of arr(doc, 'remotes', 64)) {
    const id = num(r, 'session_id');
    if (id === null || !Number.isInteger(id) || id < 1 || id > 0xffffffff) continue;
    remotes.push({ id, level: levelOf(isObject(r) ? r.level : null) });
  }
  const tuners = arr(doc, 'tuner', 2).map(tunerOf).filter(Boolean);
  return { inputs, master, remotes, tuners, lease: num(doc, 'lease_ms_left') };
}

// One input's tuner: the note, how far off it is (a needle over -50..+50 cents) and the
// frequency; "listening" until the box has heard a whole window, "no pitch" for noise or silence.
class TunerView {
  constructor(n) {
    this.note = h('span', { className: 'tuner-note' }, '–');
    this.needle = h('div', { className: 'tuner-needle' });
    this.scale = h('div', {
      className: 'tuner-scale', role: 'meter', 'aria-label': `Input ${n} tuning`,
      'aria-valuemin': -50, 'aria-valuemax': 50, 'aria-valuenow': 0, 'aria-valuetext': 'off',
    }, this.needle);
    this.detail = h('span', { className: 'tuner-detail' });
    this.el = h('div', { className: 'tuner', 'data-tuner': String(n), 'data-state': 'off' },
      this.note, this.scale, this.detail);
    this.show(null);
  }

  // r: a reading (tunerOf), or null when the tuner is off.
  show(r) {
    const state = r ? r.state : 'off';
    this.el.setAttribute('data-state', state);
    let words = 'off';
    if (state === 'settling') words = 'listening…';
    else if (state === 'none') words = 'no pitch';
    if (state !== 'pitch') {
      text(this.note, '–');
      text(this.detail, words);
      this.needle.hidden = true;
      this.scale.setAttribute('aria-valuetext', words);
      this.el.classList.remove('in-tune');
      return;
    }
    const cents = `${r.cents >= 0 ? '+' : '−'}${Math.abs(r.cents).toFixed(1)} cents`;
    text(this.note, `${r.note}${r.octave}`);
    text(this.detail, `${cents} · ${r.hz.toFixed(2)} Hz`);
    this.needle.hidden = false;
    this.needle.style.left = `calc(${(50 + r.cents).toFixed(1)}% - 1px)`;
    this.scale.setAttribute('aria-valuenow', r.cents.toFixed(0));
    this.scale.setAttribute('aria-valuetext', `${r.note}${r.octave} ${cents}`);
    this.el.classList.toggle('in-tune', Math.abs(r.cents) <= 2);
  }
}

class Meter {
  constructor(name, label) {
    this.bar = h('div', { className: 'rms' });
    this.peak = h('div', { className: 'peak' });
    this.meter = h('div', {
      className: 'meter', role: 'meter', 'data-meter': name, 'data-level': SILENCE_DB,
      'aria-label': `${label} level`, 'aria-valuemin': METER_FLOOR_DB, 'aria-valuemax': 0,
      'aria-valuenow': METER_FLOOR_DB, 'aria-valuetext': 'silence',
    }, this.bar, this.peak);
    this.db = h('span', { className: 'db', 'aria-hidden': 'true' }, '–');
    this.label = h('span', {}, label);
    this.el = h('div', { className: 'meter-row' }, this.label, this.meter, this.db);
  }

  rename(label) {
    text(this.label, label);
    this.meter.setAttribute('aria-label', `${label} level`);
  }

  set(peak, rms) {
    const frac = (d) => Math.max(0, Math.min(1, (d - METER_FLOOR_DB) / -METER_FLOOR_DB));
    this.meter.setAttribute('data-level', peak.toFixed(1));
    this.meter.setAttribute('aria-valuenow', Math.max(METER_FLOOR_DB, Math.min(0, peak)).toFixed(0));
    this.meter.setAttribute('aria-valuetext', peak <= SILENCE_DB ? 'silence' : `${peak.toFixed(0)} dBFS`);
    this.bar.style.transform = `scaleX(${frac(rms).toFixed(3)})`;
    this.peak.style.left = `calc(${(frac(peak) * 100).toFixed(1)}% - 2px)`;
    text(this.db, peak <= SILENCE_DB ? '–∞' : peak.toFixed(1));
  }
}

export class Mixer {
  // send(type, payload, done(fate)) -> id|null
  constructor({ key, send, requestStatus }) {
    this.key = key;
    this.send = send;
    this.requestStatus = requestStatus || (() => {});
    this.controls = [];
    this.remoteStrips = new Map(); // session id -> { el, meter, gain, pan, mute, stats }
    this.lastAdmission = '';
    this.lastStatusAsk = 0;

    const ctl = (spec) => {
      const c = new Control({ ...spec, send: this.send });
      this.controls.push(c);
      return c;
    };
    // Until the box's status (its "mix") arrives, controls show the box's configuration
    // defaults, marked unknown.
    this.master = ctl({ name: 'master-gain', label: 'Volume', kind: 'range', min: -60, max: 12,
      step: 0.5, value: 0, format: dB, command: (v) => ({ type: 'set_master', payload: { gain_db: v } }) });
    this.monitorOn = ctl({ name: 'monitor-on', label: 'Hear my inputs (monitor)', kind: 'checkbox',
      value: true, command: (on) => ({ type: 'set_monitor', payload: { on, gain_db: this.monitorGain.value() } }) });
    this.monitorGain = ctl({ name: 'monitor-gain', label: 'Monitor level', kind: 'range', min: -60,
      max: 12, step: 0.5, value: 0, format: dB,
      command: (v) => ({ type: 'set_monitor', payload: { on: this.monitorOn.value(), gain_db: v } }) });
    this.muteIn = [1, 2].map((n) =>
      ctl({ name: `mute-input${n}`, label: `Mute input ${n} to the room`, kind: 'checkbox', value: false,
        command: (muted) => ({ type: 'set_mute_to_room', payload: { input: n, muted } }) }));
    this.tunerOn = [1, 2].map((n) =>
      ctl({ name: `tuner-input${n}`, label: `Tune input ${n}`, kind: 'checkbox', value: false,
        command: (on) => ({ type: 'set_tuner', payload: { channel: n, on } }) }));
    this.tuners = [new TunerView(1), new TunerView(2)];
    this.pedalboard = new Pedalboard({ send: this.send, refresh: () => this.requestStatus() });
    this.metroOn = ctl({ name: 'metronome-on', label: 'Metronome', kind: 'checkbox', value: false,
      command: (on) => ({ type: 'set_metronome', payload: { on, bpm: this.metroBpm.value() } }) });
    this.metroBpm = ctl({ name: 'metronome-bpm', label: 'Tempo (BPM)', kind: 'number', min: 30, max: 300,
      step: 1, value: 120, format: bpm,
      command: (v) => ({ type: 'set_metronome', payload: { on: this.metroOn.value(), bpm: v } }) });
    const jitterBounds = () => {
      const floor = this.jFloor.value();
      const ceiling = Math.max(floor, this.jCeiling.value(), 1);
      return { type: 'set_jitter', payload: { floor_ms: floor, ceiling_ms: ceiling } };
    };
    this.jAuto = ctl({ name: 'jitter-auto', label: 'Jitter buffer: automatic', kind: 'checkbox', value: true,
      command: (on) => (on ? { type: 'set_jitter', payload: { auto: true } } : jitterBounds()) });
    this.jFloor = ctl({ name: 'jitter-floor', label: 'Buffer floor', kind: 'range', min: 0, max: 100,
      step: 1, value: 1, format: ms, command: () => { this.jAuto.show(false); return jitterBounds(); } });
    this.jCeiling = ctl({ name: 'jitter-ceiling', label: 'Buffer ceiling', kind: 'range', min: 1,
      max: 200, step: 1, value: 40, format: ms, command: () => { this.jAuto.show(false); return jitterBounds(); } });
    this.tTempo = ctl({ name: 'transport-tempo', label: 'Room tempo (BPM)', kind: 'number', min: 30, max: 300,
      step: 1, value: 120, format: bpm, command: (v) => ({ type: 'set_transport', payload: { tempo_bpm: v } }) });
    this.tMetro = ctl({ name: 'transport-metronome', label: 'Room metronome', kind: 'checkbox', value: false,
      command: (v) => ({ type: 'set_transport', payload: { metronome: v } }) });
    this.tPlaying = ctl({ name: 'transport-playing', label: 'Playing', kind: 'checkbox', value: false,
      command: (v) => ({ type: 'set_transport', payload: { playing: v } }) });

    this.meters = {
      input1: new Meter('input1', 'Input 1'),
      input2: new Meter('input2', 'Input 2'),
      master: new Meter('master', 'Master'),
    };

    this.offlineNote = h('p', { className: 'warn', role: 'status' });
    this.remotesList = h('div', { className: 'remotes' });
    this.remotesEmpty = h('p', { className: 'muted' }, 'Nobody else is playing in the room.');
    this.hostText = h('span', {}, '–');
    this.buildRoom();

    const panel = (title, ...content) => {
      const id = `mixer-${title.toLowerCase().replace(/[^a-z]+/g, '-')}`;
      return h('section', { className: 'panel', 'aria-labelledby': id }, h('h3', { id }, title), ...content);
    };
    this.chatHost = panel('Room chat');
    this.chatHost.classList.add('chat-panel');
    this.el = h('div', { id: 'mixer', 'data-box': key },
      this.offlineNote,
      h('div', { className: 'mixer' },
        panel('Room', this.roomEl),
        this.chatHost,
        panel('My inputs', this.meters.input1.el, this.muteIn[0].el, this.meters.input2.el,
          this.muteIn[1].el, this.monitorOn.el, this.monitorGain.el),
        panel('Tuner', this.tunerOn[0].el, this.tuners[0].el, this.tunerOn[1].el, this.tuners[1].el),
        panel('Pedalboard', this.pedalboard.el),
        panel('Remote players', this.remotesEmpty, this.remotesList),
        panel('Master', this.meters.master.el, this.master.el),
        panel('Metronome', this.metroOn.el, this.metroBpm.el),
        panel('Room transport', h('p', { className: 'muted' }, 'Changing these makes this box the room\'s host. Host: ', this.hostText),
          this.tTempo.el, this.tMetro.el, this.tPlaying.el),
        panel('Jitter buffer', this.jAuto.el, this.jFloor.el, this.jCeiling.el)));
  }

  // The room's chat (chat.js), shown next to the room.
  setChat(el) {
    this.chatHost.append(el);
  }

  buildRoom() {
    this.codeInput = h('input', { id: 'room-code', type: 'text', maxlength: 6, autocomplete: 'off',
      autocapitalize: 'characters', spellcheck: 'false', inputmode: 'text',
      'aria-describedby': 'room-code-help room-error', pattern: '[2-9A-HJKMNP-Za-hjkmnp-z]{6}' });
    this.roomFate = h('span', { 'data-fate': '', 'aria-live': 'polite' });
    this.roomError = h('p', { id: 'room-error', className: 'error', role: 'alert' });
    this.roomShare = h('p', { id: 'room-share', role: 'status' });
    this.lastRoom = null;
    this.roomName = h('dd', {}, '–');
    this.roomLink = h('dd', {}, '–');
    this.roomMembers = h('dd', {}, '–');
    this.roomRtt = h('dd', {}, '–');
    this.admission = h('p', { id: 'room-admission', className: 'muted', role: 'status' });
    this.roster = h('ul', { id: 'roster', className: 'roster', 'aria-label': 'Room members' });
    this.createBtn = h('button', { id: 'room-create', type: 'button', 'data-control': 'room-create',
      onclick: () => this.roomCommand('create') }, 'Create room');
    this.joinBtn = h('button', { id: 'room-join', type: 'button', 'data-control': 'room-join',
      onclick: () => this.roomCommand('join') }, 'Join');
    this.leaveBtn = h('button', { id: 'room-leave', type: 'button', className: 'secondary',
      'data-control': 'room-leave', onclick: () => this.roomCommand('leave') }, 'Leave room');
    this.codeInput.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') this.roomCommand('join');
    });
    this.roomEl = h('div', {},
      h('dl', { className: 'facts' }, h('dt', {}, 'Room'), this.roomName, h('dt', {}, 'Link'), this.roomLink,
        h('dt', {}, 'Members'), this.roomMembers, h('dt', {}, 'RTT'), this.roomRtt),
      this.admission,
      this.roomShare,
      h('label', { for: 'room-code' }, 'Room code'),
      h('p', { id: 'room-code-help', className: 'muted' },
        '6 letters and digits. Leave it empty to get a new code when you create a room.'),
      h('div', { className: 'room-actions' }, this.codeInput, this.createBtn, this.joinBtn, this.leaveBtn,
        this.roomFate),
      this.roomError,
      h('h4', {}, 'In the room'),
      this.roster);
  }

  setRoomError(message) {
    text(this.roomError, message);
  }

  roomCommand(what) {
    const code = normalizeCode(this.codeInput.value);
    this.codeInput.value = code;
    let type;
    let payload = {};
    if (what === 'leave') {
      type = 'leave_room';
    } else if (what === 'create') {
      if (code !== '' && !validCode(code)) {
        this.setRoomError('A room code is 6 characters: digits 2-9 and letters except I, L and O.');
        this.codeInput.focus();
        return;
      }
      type = 'create_room';
      if (code !== '') payload = { code };
    } else {
      if (!validCode(code)) {
        this.setRoomError('Type the 6-character room code you were given (digits 2-9 and letters except I, L and O).');
        this.codeInput.focus();
        return;
      }
      type = 'join_room';
      payload = { room: code };
    }
    this.setRoomError('');
    this.roomFate.setAttribute('data-state', 'pending');
    text(this.roomFate, 'pending');
    this.send(type, payload, (fate) => {
      if (fate.state === 'ok') {
        this.roomFate.setAttribute('data-state', 'ok');
        text(this.roomFate, 'ok');
      } else {
        this.roomFate.setAttribute('data-state', 'error');
        text(this.roomFate, fate.message);
        this.setRoomError(fate.code === 'not_in_room' ? 'The box is in no room.' : fate.message);
      }
    });
  }

  setReachable(reachable, why) {
    this.reachable = reachable;
    for (const c of this.controls) c.setDisabled(!reachable);
    for (const b of [this.createBtn, this.joinBtn, this.leaveBtn]) b.disabled = !reachable;
    for (const s of this.remoteStrips.values()) for (const c of s.controls) c.setDisabled(!reachable);
    this.pedalboard.setDisabled(!reachable);
    if (reachable && !this.presetsListed) {
      this.presetsListed = true;
      this.pedalboard.listPresets();
    }
    text(this.offlineNote, reachable ? '' : why);
    this.offlineNote.hidden = reachable;
  }

  // The box's latest known state (BoxStore entry).
  update(box) {
    const s = box.status;
    if (!s) return;
    text(this.roomName, s.room || 'none');
    text(this.roomLink, s.link || '–');
    text(this.roomMembers, s.members === null ? '–' : String(s.members));
    text(this.roomRtt, s.rtt_ms === null || !s.room ? '–' : `${fmt(s.rtt_ms)} ms`);
    this.updateAdmission(s.admission);
    this.updateRoom(s.room);
    this.updateRoster(s);
    this.updateRemotes(s.remotes);
    this.pedalboard.update(s.board);
    const m = s.mix;
    if (m) {
      this.master.fromBox(m.master_gain_db);
      this.monitorOn.fromBox(m.monitor_on);
      this.monitorGain.fromBox(m.monitor_gain_db);
      this.muteIn[0].fromBox(m.muted_to_room[0]);
      this.muteIn[1].fromBox(m.muted_to_room[1]);
      this.tunerOn[0].fromBox(m.tuner[0]);
      this.tunerOn[1].fromBox(m.tuner[1]);
      // A tuner the box has off shows nothing, whatever an older meters message said.
      m.tuner.forEach((on, i) => { if (on === false) this.tuners[i].show(null); });
      this.metroOn.fromBox(m.metronome_on);
      this.metroBpm.fromBox(m.metronome_bpm);
      this.jAuto.fromBox(m.jitter_auto);
      this.jFloor.fromBox(m.jitter_floor_ms);
      this.jCeiling.fromBox(m.jitter_ceiling_ms);
    }
    if (s.transport) {
      text(this.hostText, s.transport.host || '–');
      this.tTempo.fromBox(s.transport.tempo_bpm);
      this.tMetro.fromBox(s.transport.metronome);
      this.tPlaying.fromBox(s.transport.playing);
    } else {
      text(this.hostText, 'none');
    }
  }

  updateAdmission(a) {
    if (!a) {
      text(this.admission, '');
      return;
    }
    const room = a.room || '';
    let line = '';
    if (a.state === 'requested') line = `Asking the room server for room ${room}…`;
    else if (a.state === 'admitted') line = `Admitted to room ${room}.`;
    else if (a.state === 'refused') line = `Not admitted to room ${room}.`;
    else if (a.state === 'timed_out') line = `The room server has not answered for room ${room}; asking again.`;
    text(this.admission, line);
    // Show an outcome once per request and state, so a later local error is not overwritten by
    // the same old refusal in every status.
    const id = `${a.request_id}|${a.state}|${a.error_code}`;
    if (id === this.lastAdmission) return;
    this.lastAdmission = id;
    if (a.state === 'refused' || (a.state === 'timed_out' && a.error_code)) {
      this.setRoomError(admissionMessage(a.error_code || a.state, a.error));
    } else if (a.state === 'timed_out') {
      this.setRoomError(admissionMessage('timed_out'));
    } else if (a.state === 'admitted') {
      this.setRoomError('');
    }
  }

  // The room's code is what musicians share: when the box enters a room made by code, the code
  // field shows it (unless the musician is typing in it).
  updateRoom(room) {
    if (room === this.lastRoom) return;
    this.lastRoom = room;
    const code = normalizeCode(room || '');
    text(this.roomShare, room && validCode(code) ? `Room code to share: ${code}` : '');
    if (room && validCode(code) && document.activeElement !== this.codeInput) this.codeInput.value = code;
  }

  updateRoster(s) {
    const rows = [];
    const heard = new Map(s.remotes.map((r) => [r.session_id, r]));
    const named = new Set();
    if (s.room) rows.push(h('li', { 'data-member': this.key }, `${this.key} (this box)`));
    const members = new Map(s.peers.map((p) => [p.key, { key: p.key, session_id: null, rtt_ms: null }]));
    for (const m of s.roster) members.set(m.key, m);
    for (const m of members.values()) {
      if (m.key === this.key) continue;
      const r = m.session_id === null ? undefined : heard.get(m.session_id);
      if (r) named.add(r.session_id);
      rows.push(h('li', { 'data-member': m.key }, m.key,
        r ? h('span', { className: 'muted' }, `: ${remoteStats(r, s.rtt_ms, m.rtt_ms)}`) : null));
    }
    for (const r of s.remotes) {
      if (named.has(r.session_id)) continue;
      rows.push(h('li', { 'data-remote': String(r.session_id) }, `Audio from session ${r.session_id}: `,
        remoteStats(r, s.rtt_ms, null)));
    }
    if (rows.length === 0) rows.push(h('li', { className: 'muted' }, s.room ? 'Nobody else yet.' : 'Not in a room.'));
    this.roster.replaceChildren(...rows);
    // Remote strips are named after the box they hear, once its presence said its session.
    this.names = new Map();
    for (const m of members.values()) if (m.session_id !== null) this.names.set(m.session_id, m.key);
  }

  updateRemotes(remotes) {
    const seen = new Set();
    for (const r of remotes) {
      seen.add(r.session_id);
      let strip = this.remoteStrips.get(r.session_id);
      if (!strip) {
        strip = this.makeStrip(r.session_id);
        this.remoteStrips.set(r.session_id, strip);
        this.remotesList.append(strip.el);
      }
      const name = this.names && this.names.get(r.session_id);
      if (name && strip.name !== name) {
        strip.name = name;
        strip.meter.rename(name);
        strip.el.setAttribute('aria-label', `Remote player ${name}`);
      }
      strip.gain.fromBox(r.gain_db);
      strip.pan.fromBox(r.pan);
      strip.mute.fromBox(r.muted);
      text(strip.stats, remoteStats(r, null, null));
    }
    for (const [id, strip] of this.remoteStrips) {
      if (!seen.has(id)) {
        strip.el.remove();
        this.remoteStrips.delete(id);
      }
    }
    this.remotesEmpty.hidden = this.remoteStrips.size > 0;
  }

  makeStrip(id) {
    const mk = (spec) => new Control({ ...spec, send: this.send });
    const gain = mk({ name: `remote-${id}-gain`, label: 'Gain', kind: 'range', min: -60, max: 12, step: 0.5,
      value: 0, format: dB, command: (v) => ({ type: 'set_gain', payload: { remote: id, gain_db: v } }) });
    const pan = mk({ name: `remote-${id}-pan`, label: 'Pan', kind: 'range', min: -1, max: 1, step: 0.05,
      value: 0, format: panText, command: (v) => ({ type: 'set_pan', payload: { remote: id, pan: v } }) });
    const mute = mk({ name: `remote-${id}-mute`, label: 'Mute', kind: 'checkbox', value: false,
      command: (v) => ({ type: 'set_mute', payload: { remote: id, muted: v } }) });
    const meter = new Meter(`remote-${id}`, `Player ${id}`);
    const stats = h('p', { className: 'muted' });
    const el = h('div', { className: 'strip', 'data-remote-strip': String(id), role: 'group',
      'aria-label': `Remote player, session ${id}` }, meter.el, gain.el, pan.el, mute.el, stats);
    for (const c of [gain, pan, mute]) c.setDisabled(this.reachable === false);
    return { el, meter, gain, pan, mute, stats, controls: [gain, pan, mute] };
  }

  onMeters(m) {
    for (const [i, view] of this.tuners.entries()) {
      view.show(m.tuners.find((t) => t.input === i + 1) || null);
    }
    if (m.inputs[0]) this.meters.input1.set(m.inputs[0].peak, m.inputs[0].rms);
    if (m.inputs[1]) this.meters.input2.set(m.inputs[1].peak, m.inputs[1].rms);
    if (m.master.length > 0) {
      const peak = Math.max(...m.master.map((l) => l.peak));
      const rms = Math.max(...m.master.map((l) => l.rms));
      this.meters.master.set(peak, rms);
    }
    let unknown = false;
    for (const r of m.remotes) {
      const strip = this.remoteStrips.get(r.id);
      if (strip) strip.meter.set(r.level.peak, r.level.rms);
      else unknown = true;
    }
    // A player the status has not listed yet: ask for it (at most every 2 s).
    if (unknown && Date.now() - this.lastStatusAsk > 2000) {
      this.lastStatusAsk = Date.now();
      this.requestStatus();
    }
  }
}

function remoteStats(r, rtt, theirRtt) {
  const parts = [];
  const buffer = r.depth_ms;
  // One way from that player to this box: half of each box's round trip to the room server
  // (its own from its presence) plus the buffer this box keeps for it.
  if (typeof rtt === 'number' && typeof theirRtt === 'number' && typeof buffer === 'number') {
    parts.push(`latency ≈ ${fmt(rtt / 2 + theirRtt / 2 + buffer, 1)} ms`);
  } else if (typeof rtt === 'number') {
    parts.push(`latency: RTT ${fmt(rtt, 1)} ms + buffer ${fmt(buffer, 0)} ms`);
  } else if (typeof buffer === 'number') parts.push(`buffer ${fmt(buffer, 0)} ms`);
  if (typeof r.received === 'number' && typeof r.concealed === 'number') {
    const total = r.received + r.concealed;
    parts.push(`loss ${total > 0 ? fmt((100 * r.concealed) / total, 1) : '0.0'} %`);
  }
  if (typeof r.late === 'number') parts.push(`late ${r.late}`);
  return parts.join(', ') || 'no figures yet';
}
