// One mixer control bound to one box command. It shows the fate of its latest command
// (pending, ok, or the box's error message) and, when the box refuses, goes back to the box's
// value. While a command is on its way, newer moves are held back and only the latest is sent
// when the box has answered: a dragged fader sends a handful of commands, not hundreds (the box
// limits commands per sender).

import { h, text, uid } from './dom.js';

const MIN_GAP_MS = 250;
// A status that arrives while the musician is moving a control must not yank it back.
const HANDS_OFF_MS = 1500;

export class Control {
  // spec: { name, label, kind: 'range'|'number'|'checkbox', min, max, step, value, format(v),
  //         command(v) -> { type, payload }, send(type, payload, done) -> id|null, known }
  constructor(spec) {
    this.spec = spec;
    this.boxValue = spec.value;
    this.known = Boolean(spec.known);
    this.inFlight = false;
    this.wanted = undefined;
    this.lastSent = 0;
    this.lastTouch = 0;
    this.gapTimer = null;
    const id = uid(`c-${spec.name}`);
    const isCheck = spec.kind === 'checkbox';
    this.input = h('input', {
      id,
      type: isCheck ? 'checkbox' : spec.kind,
      inputmode: spec.kind === 'number' ? 'decimal' : null,
      'data-control': spec.name,
      min: isCheck ? null : spec.min,
      max: isCheck ? null : spec.max,
      step: isCheck ? null : spec.step,
      'aria-describedby': `${id}-fate`,
    });
    this.fate = h('span', { id: `${id}-fate`, 'data-fate': '', 'aria-live': 'polite' });
    // A typed number shows itself; a fader needs its value spelled out.
    this.output = spec.kind === 'range' ? h('output', { for: id }) : null;
    if (isCheck) {
      this.el = h('div', { className: 'ctl check' }, this.input, h('label', { for: id }, spec.label),
        this.fate);
    } else {
      this.el = h('div', { className: 'ctl' }, h('label', { for: id }, spec.label), this.input,
        this.output, this.fate);
    }
    this.show(spec.value);
    const moved = () => {
      this.lastTouch = Date.now();
      const v = this.value();
      if (!this.valid(v)) {
        this.setFate('error', `${spec.label}: type a number`);
        this.show(this.boxValue);
        return;
      }
      this.showOutput(v);
      this.want(v);
    };
    // A fader sends while it moves; a typed number only once it is committed (Enter, leaving
    // the field, the spinner), not for every keystroke.
    if (spec.kind === 'range') this.input.addEventListener('input', moved);
    else this.input.addEventListener('change', moved);
  }

  value() {
    return this.spec.kind === 'checkbox' ? this.input.checked : Number(this.input.value);
  }

  // A typed number that is not a number at all is not sent: the box's value comes back.
  valid(v) {
    return this.spec.kind === 'checkbox' || (this.input.value.trim() !== '' && Number.isFinite(v));
  }

  show(v) {
    if (v === null || v === undefined) return;
    if (this.spec.kind === 'checkbox') this.input.checked = Boolean(v);
    else this.input.value = String(v);
    this.showOutput(v);
  }

  showOutput(v) {
    if (!this.output) return;
    text(this.output, this.known || this.lastTouch ? this.spec.format(v) : `${this.spec.format(v)}?`);
    this.output.title = this.known ? '' : 'the box has not reported this value';
  }

  setFate(state, message) {
    this.fate.setAttribute('data-state', state);
    text(this.fate, message);
  }

  // The box's own value, from its status.
  fromBox(v) {
    if (v === null || v === undefined) return;
    this.boxValue = v;
    this.known = true;
    if (this.inFlight || this.wanted !== undefined) return;
    if (Date.now() - this.lastTouch < HANDS_OFF_MS) {
      this.showOutput(this.value());
      return;
    }
    this.show(v);
  }

  setDisabled(off) {
    this.input.disabled = off;
  }

  want(v) {
    this.wanted = v;
    this.flush();
  }

  flush() {
    if (this.inFlight || this.wanted === undefined || this.gapTimer !== null) return;
    const wait = this.lastSent + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      this.gapTimer = setTimeout(() => {
        this.gapTimer = null;
        this.flush();
      }, wait);
      return;
    }
    const v = this.wanted;
    this.wanted = undefined;
    const { type, payload } = this.spec.command(v);
    this.inFlight = true;
    this.lastSent = Date.now();
    this.setFate('pending', 'pending');
    this.spec.send(type, payload, (fate) => {
      this.inFlight = false;
      if (fate.state === 'ok') {
        this.boxValue = v;
        this.known = true;
        this.setFate('ok', 'ok');
        this.flush();
        return;
      }
      // Refused: newer moves would likely be refused too; show the box's value again.
      this.wanted = undefined;
      this.setFate('error', fate.message);
      this.show(this.boxValue);
    });
  }
}
