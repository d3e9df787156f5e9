// The pedalboard screen (docs/pedalboard.md): each input's chain of LV2 pedals as the box's status
// reports it, a picker of the pedals this box may load, the chosen pedal's knobs, and presets.
// Everything shown comes from the box (status, list_pedals, get_board, list_boards), read with
// limits; every change is a command whose fate is shown next to it.

import { h, text } from './dom.js';
import { arr, bool, isObject, num, str } from './json.js';

const PAGE = 100; // list_pedals answers at most 100 a page
const MAX_CATALOG = 2000;
const MAX_CONTROLS = 256;
const PRESET_NAME = /^[A-Za-z0-9 ._-]{1,32}$/;

// One control of list_pedals {uri}, or null when it is not usable as a knob.
export function controlOf(c) {
  if (!isObject(c)) return null;
  const symbol = str(c, 'symbol', '', 128);
  const min = num(c, 'minimum');
  const max = num(c, 'maximum');
  if (symbol === '' || min === null || max === null || max < min) return null;
  const choices = arr(c, 'enumeration', 128)
    .filter(isObject)
    .map((x) => ({ value: num(x, 'value'), label: str(x, 'label', '', 64) }))
    .filter((x) => x.value !== null);
  return {
    symbol,
    name: str(c, 'name', symbol, 128) || symbol,
    min,
    max,
    def: Math.min(max, Math.max(min, num(c, 'default', min))),
    unit: str(c, 'unit', '', 16),
    integer: bool(c, 'integer', false),
    toggled: bool(c, 'toggled', false),
    choices,
  };
}

// The fader step of a control: whole numbers for integers and switches, else 1/200 of its range.
export function stepFor(c) {
  if (c.integer || c.toggled) return 1;
  const span = c.max - c.min;
  return span > 0 ? span / 200 : 0.01;
}

export function validPresetName(name) {
  return PRESET_NAME.test(name) && !name.startsWith('.');
}

function catalogEntry(p) {
  if (!isObject(p)) return null;
  const uri = str(p, 'uri', '', 512);
  if (uri === '') return null;
  return { uri, name: str(p, 'name', uri, 128) || uri, kind: str(p, 'kind', '', 64) };
}

const percent = (v) => `${Math.round(100 * v)} %`;

export class Pedalboard {
  // send(type, payload, done(fate)) -> id|null; refresh() asks the box for its status.
  constructor({ send, refresh }) {
    this.send = send;
    this.refresh = refresh || (() => {});
    this.catalog = null; // [{uri, name, kind}] once listed
    this.listing = false;
    this.board = null;
    this.selected = null; // { channel, position, uri }
    this.fate = h('p', { className: 'muted', role: 'status', 'data-board-fate': '' });
    this.channels = [1, 2].map((n) => this.buildChannel(n));
    this.knobs = h('div', { className: 'knobs', 'data-knobs': '' },
      h('p', { className: 'muted' }, 'Choose a pedal to see its knobs.'));
    this.presetName = h('input', { type: 'text', maxlength: 32, 'data-preset-name': '',
      'aria-label': 'Preset name', placeholder: 'preset name' });
    this.presetList = h('select', { 'data-preset-list': '', 'aria-label': 'Presets' });
    this.presetChannel = h('select', { 'data-preset-channel': '', 'aria-label': 'Input for presets' },
      h('option', { value: '1' }, 'Input 1'), h('option', { value: '2' }, 'Input 2'));
    const button = (label, attr, onclick) => h('button', { type: 'button', [attr]: '', onclick }, label);
    this.presets = h('div', { className: 'presets' },
      this.presetChannel, this.presetName, button('Save', 'data-preset-save', () => this.savePreset()),
      this.presetList, button('Load', 'data-preset-load', () => this.loadPreset()));
    this.el = h('div', { className: 'pedalboard', 'data-pedalboard': '' },
      ...this.channels.map((c) => c.el), this.knobs, this.presets, this.fate);
  }

  buildChannel(n) {
    const list = h('ol', { className: 'pedals', 'data-pedals': String(n), 'aria-label': `Input ${n} pedals` });
    const load = h('span', { className: 'muted', 'data-load': String(n) });
    const missing = h('p', { className: 'warn', 'data-missing': String(n), hidden: true });
    const picker = h('select', { 'data-add-select': String(n), 'aria-label': `Pedal to add to input ${n}`,
      onfocus: () => this.listPedals(), onpointerdown: () => this.listPedals() },
      h('option', { value: '' }, 'Add a pedal…'));
    const add = h('button', { type: 'button', 'data-add': String(n), onclick: () => {
      if (picker.value !== '') this.command('insert_pedal', { channel: n, uri: picker.value });
    } }, 'Add');
    const clear = h('button', { type: 'button', className: 'secondary', 'data-clear': String(n),
      onclick: () => this.command('clear_board', { channel: n }) }, 'Clear');
    const el = h('section', { className: 'board', 'data-board': String(n) },
      h('h4', {}, `Input ${n} `, load), list, missing, h('div', { className: 'room-actions' }, picker, add, clear));
    return { n, el, list, load, missing, picker };
  }

  setDisabled(off) {
    for (const b of this.el.querySelectorAll('button, select, input')) b.disabled = off;
  }

  // A command about the board; its fate shows under the board, and the status follows.
  command(type, payload, then = () => {}) {
    text(this.fate, `${type}: pending`);
    this.fate.setAttribute('data-state', 'pending');
    this.send(type, payload, (fate) => {
      this.fate.setAttribute('data-state', fate.state);
      text(this.fate, fate.state === 'ok' ? `${type}: ok` : `${type}: ${fate.message}`);
      if (fate.state === 'ok') then(fate.result);
      this.refresh();
    });
  }

  // The pedals this box may load, page by page, once.
  listPedals(offset = 0, found = []) {
    if (this.catalog || (this.listing && offset === 0)) return;
    this.listing = true;
    this.send('list_pedals', { offset, limit: PAGE }, (fate) => {
      if (fate.state !== 'ok') {
        this.listing = false;
        text(this.fate, `list_pedals: ${fate.message}`);
        return;
      }
      const page = arr(fate.result, 'pedals', PAGE).map(catalogEntry).filter(Boolean);
      const all = found.concat(page);
      const total = Math.min(num(fate.result, 'total', all.length), MAX_CATALOG);
      if (page.length > 0 && all.length < total) {
        this.listPedals(offset + page.length, all);
        return;
      }
      this.catalog = all.sort((a, b) => a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
      this.listing = false;
      for (const c of this.channels) this.fillPicker(c.picker);
    });
  }

  fillPicker(picker) {
    const groups = new Map();
    for (const p of this.catalog) {
      const kind = p.kind || 'Other';
      if (!groups.has(kind)) groups.set(kind, h('optgroup', { label: kind }));
      groups.get(kind).append(h('option', { value: p.uri }, p.name));
    }
    picker.replaceChildren(h('option', { value: '' }, 'Add a pedal…'), ...groups.values());
  }

  // The board as the box's status reports it.
  update(board) {
    if (!board) return;
    this.board = board;
    for (const c of this.channels) {
      const ch = board.channels[c.n - 1];
      text(c.load, !board.ready ? '(reading plugins…)'
        : ch.overloaded ? `load ${percent(ch.peak_load)}: too slow, bypassed`
          : ch.pedals.length > 0 ? `load ${percent(ch.load)}` : '');
      c.load.classList.toggle('warn', ch.overloaded);
      c.missing.hidden = ch.missing.length === 0;
      text(c.missing, ch.missing.length ? `Left out: ${ch.missing.join('; ')}` : '');
      c.list.replaceChildren(...ch.pedals.map((p, i) => this.pedalRow(c.n, i + 1, p, ch.pedals.length)));
      if (ch.pedals.length === 0) c.list.append(h('li', { className: 'muted' }, 'No pedals.'));
    }
    // The chosen pedal moved away or was removed: its knobs go.
    const s = this.selected;
    if (s) {
      const p = board.channels[s.channel - 1].pedals[s.position - 1];
      if (!p || p.uri !== s.uri) this.choose(null);
    }
  }

  pedalRow(channel, position, p, count) {
    const chosen = this.selected && this.selected.channel === channel && this.selected.position === position;
    const on = h('input', { type: 'checkbox', 'data-pedal-on': `${channel}-${position}`,
      'aria-label': `${p.name} on`, onchange: () =>
        this.command('bypass_pedal', { channel, position, bypassed: !on.checked }) });
    on.checked = !p.bypassed;
    const move = (to, label, sign) => h('button', { type: 'button', className: 'secondary',
      'aria-label': `Move ${p.name} ${label}`, disabled: to < 1 || to > count,
      onclick: () => this.command('move_pedal', { channel, from: position, to }) }, sign);
    return h('li', { 'data-pedal': `${channel}-${position}`, 'data-uri': p.uri, className: p.bypassed ? 'bypassed' : '' },
      h('button', { type: 'button', className: 'pedal-name', 'aria-pressed': chosen ? 'true' : 'false',
        onclick: () => this.choose({ channel, position, uri: p.uri }) }, p.name || p.uri),
      h('label', {}, on, ' on'),
      move(position - 1, 'earlier', '▲'), move(position + 1, 'later', '▼'),
      h('button', { type: 'button', className: 'secondary', 'aria-label': `Remove ${p.name}`,
        'data-remove': `${channel}-${position}`,
        onclick: () => this.command('remove_pedal', { channel, position }) }, '✕'));
  }

  // Shows the knobs of one pedal: its controls (list_pedals {uri}) at the board's values.
  choose(sel) {
    this.selected = sel;
    if (!sel) {
      this.knobs.replaceChildren(h('p', { className: 'muted' }, 'Choose a pedal to see its knobs.'));
      return;
    }
    if (this.board) this.update(this.board);
    this.send('list_pedals', { uri: sel.uri }, (fate) => {
      if (fate.state !== 'ok' || this.selected !== sel) return;
      const controls = arr(fate.result, 'controls', MAX_CONTROLS).map(controlOf).filter(Boolean);
      this.send('get_board', { channel: sel.channel }, (board) => {
        if (board.state !== 'ok' || this.selected !== sel) return;
        const pedal = arr(board.result, 'pedals', 8)[sel.position - 1];
        const values = new Map();
        for (const kv of arr(pedal, 'params', MAX_CONTROLS)) {
          if (Array.isArray(kv) && typeof kv[0] === 'string' && typeof kv[1] === 'number') values.set(kv[0], kv[1]);
        }
        const title = str(fate.result, 'name', sel.uri, 128);
        this.knobs.replaceChildren(h('h4', {}, `${title} (input ${sel.channel}, pedal ${sel.position})`),
          ...controls.map((c) => this.knob(sel, c, values.has(c.symbol) ? values.get(c.symbol) : c.def)));
      });
    });
  }

  knob(sel, c, value) {
    const fate = h('span', { 'data-fate': '', 'aria-live': 'polite' });
    const set = (v) => {
      fate.setAttribute('data-state', 'pending');
      text(fate, 'pending');
      this.send('set_pedal_param', { channel: sel.channel, position: sel.position, symbol: c.symbol, value: v },
        (f) => {
          fate.setAttribute('data-state', f.state);
          text(fate, f.state === 'ok' ? 'ok' : f.message);
        });
    };
    const label = `${c.name}${c.unit ? ` (${c.unit})` : ''}`;
    let input;
    let shown = null;
    if (c.choices.length > 0 && !c.toggled) {
      input = h('select', { 'data-knob': c.symbol, 'aria-label': label, onchange: () => set(Number(input.value)) },
        ...c.choices.map((x) => h('option', { value: String(x.value) }, x.label || String(x.value))));
      input.value = String(value);
    } else if (c.toggled) {
      input = h('input', { type: 'checkbox', 'data-knob': c.symbol, 'aria-label': label,
        onchange: () => set(input.checked ? 1 : 0) });
      input.checked = value >= 0.5;
    } else {
      shown = h('output', {}, String(Number(value.toPrecision(4))));
      input = h('input', { type: 'range', 'data-knob': c.symbol, 'aria-label': label, min: c.min, max: c.max,
        step: stepFor(c), onchange: () => set(Number(input.value)),
        oninput: () => text(shown, String(Number(Number(input.value).toPrecision(4)))) });
      input.value = String(value);
    }
    return h('div', { className: 'ctl' }, h('span', {}, label), input, shown, fate);
  }

  // Presets: the box's list, saving the chosen input's board, loading one onto it.
  listPresets() {
    this.send('list_boards', {}, (fate) => {
      if (fate.state !== 'ok') return;
      const names = arr(fate.result, 'presets', 256).filter((n) => typeof n === 'string' && validPresetName(n));
      this.presetList.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
    });
  }

  savePreset() {
    const name = this.presetName.value.trim();
    if (!validPresetName(name)) {
      text(this.fate, 'A preset name is 1 to 32 letters, digits, spaces, dots, dashes or underscores.');
      this.fate.setAttribute('data-state', 'error');
      return;
    }
    this.command('save_board', { channel: Number(this.presetChannel.value), name }, () => this.listPresets());
  }

  loadPreset() {
    const name = this.presetList.value;
    if (!name) return;
    this.command('load_board', { channel: Number(this.presetChannel.value), name }, (result) => {
      const missing = arr(result, 'missing', 8).filter((m) => typeof m === 'string');
      if (missing.length > 0) text(this.fate, `load_board: ok, left out: ${missing.map((m) => m.slice(0, 200)).join('; ')}`);
    });
  }
}
