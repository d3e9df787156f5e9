// The jambox web mixer: sign in, the musician's boxes, one box's mixer and room.

import { BoxStore } from './boxes.js';
import { ChatPanel } from './chat.js';
import { CommandTracker } from './commands.js';
import { Connection, brokerUrl } from './connection.js';
import { byId, fmt, h, text } from './dom.js';
import { isObject, parseObject } from './json.js';
import { MeterLease } from './meter-lease.js';
import { Mixer, parseMeters } from './mixer.js';
import { validKey, validUser } from './names.js';

const METER_INTERVAL_MS = 250;
const CERT_WARN_DAYS = 30;

function topicPrefix() {
  const meta = document.querySelector('meta[name="jambox-prefix"]');
  const p = meta ? meta.getAttribute('content') : '';
  return p && validKey(p) ? p : 'jambox';
}

const prefix = topicPrefix();
const boxTopic = (key, rest) => `${prefix}/player/${key}/${rest}`;

let user = null; // signed-in user name (the last level of our command topic)
let mixer = null; // { key, view: Mixer, lease: MeterLease, chat: ChatPanel }
const rows = new Map(); // box key -> row elements

const conn = new Connection({
  url: brokerUrl(),
  onState: showConnState,
  onMessage,
  onReady,
  onLost,
  onAuthRefused,
});

const tracker = new CommandTracker((key, textMsg, failed) =>
  conn.publish(boxTopic(key, `command/from/${user}`), textMsg, 1, failed));

const store = new BoxStore((box) => {
  renderRow(box);
  if (conn.ready && !box.probed) probe(box);
  if (mixer && mixer.key === box.key) {
    mixer.view.update(box);
    mixer.chat.onStatus(box.status);
    updateReachable();
  }
});

// --- connection ------------------------------------------------------------------------------

// The broker delivers only the boxes this musician was granted (its ACL): subscribing to
// every box is how the page learns which ones those are.
for (const f of [`${prefix}/player/+/state`, `${prefix}/player/+/status`, `${prefix}/player/+/command/ack`]) {
  conn.subscribe(f);
}

function onReady() {
  if (user !== null && !byId('screen-login').hidden) {
    byId('login-password').value = '';
    if (!location.hash.startsWith('#box/')) location.hash = '#boxes';
  }
  route();
  // Ask every box seen so far at once: the list is then complete without waiting for each
  // box's next periodic status. Boxes seen later are asked as they appear (store callback).
  for (const box of store.boxes.values()) probe(box);
  if (mixer) mixer.lease.start();
  updateReachable();
}

function onLost() {
  for (const box of store.boxes.values()) box.probed = false;
  tracker.failAll('the connection was lost before the box answered');
  if (mixer) mixer.lease.stop();
  updateReachable();
}

function onAuthRefused() {
  user = null;
  showScreen('login');
  text(byId('login-error'), 'wrong user name or password');
  byId('login-submit').disabled = false;
  byId('login-password').focus();
}

let retryTick = null;
function showConnState(state, detail, retryAt) {
  const el = byId('conn-state');
  el.setAttribute('data-state', state);
  if (retryTick !== null) clearInterval(retryTick);
  retryTick = null;
  const paint = () => {
    let s;
    if (state === 'connected') s = `Connected as ${user}`;
    else if (state === 'connecting') s = 'Connecting…';
    else if (state === 'reconnecting') {
      const secs = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      s = `Offline: retrying in ${secs} s`;
    } else s = 'Signed out';
    if (detail && state !== 'signed-out') s += ` (${detail})`;
    text(el, s);
    if (state === 'reconnecting' && !conn.everReady && user !== null) {
      text(byId('login-error'), `Cannot reach the server. ${s}.`);
    }
  };
  paint();
  if (state === 'reconnecting') retryTick = setInterval(paint, 1000);
  byId('sign-out').hidden = state === 'signed-out';
  if (state !== 'connecting') byId('login-submit').disabled = false;
  updateReachable();
}

const HANDLED = new Set(['state', 'status', 'command/ack', 'meters', 'room/chat', 'room/chat/history',
  'room/chat/refused']);

function onMessage(topic, payload) {
  const parts = topic.split('/');
  if (parts.length < 4 || parts[0] !== prefix || parts[1] !== 'player') return;
  const key = parts[2];
  if (!validKey(key)) return;
  const rest = parts.slice(3).join('/');
  // The box's room topics also carry its relayed presence and transport: not for the page.
  if (!HANDLED.has(rest)) return;
  const doc = parseObject(payload);
  if (doc === null) {
    // An empty retained message clears a box's state: forget nothing, just ignore it.
    return;
  }
  switch (rest) {
    case 'state':
      store.onState(key, doc);
      break;
    case 'status':
      store.onStatus(key, doc);
      break;
    case 'command/ack':
      store.heard(key);
      tracker.onAck(key, doc);
      break;
    case 'room/chat':
    case 'room/chat/history':
    case 'room/chat/refused':
      if (mixer && mixer.key === key) {
        if (rest === 'room/chat') mixer.chat.onEvent(doc);
        else if (rest === 'room/chat/history') mixer.chat.onHistory(doc);
        else mixer.chat.onRefusal(doc);
      }
      break;
    case 'meters':
      if (mixer && mixer.key === key) {
        store.heard(key);
        const m = parseMeters(doc);
        mixer.lease.onMeters(m.lease);
        mixer.view.onMeters(m);
      }
      break;
    default:
      break;
  }
}

function sendCommand(key, type, payload, done) {
  return tracker.send(key, type, payload, done);
}

function probe(box) {
  box.probed = true;
  sendCommand(box.key, 'get_status', {}, (fate) => {
    if (fate.state === 'ok') {
      if (isObject(fate.result)) store.onStatus(box.key, fate.result);
    } else if (fate.code === 'timeout') {
      store.noAnswer(box.key);
    } else if (fate.code === 'offline') {
      box.probed = false; // ask again on the next connection
    }
  });
}

// --- sign in ---------------------------------------------------------------------------------

byId('login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = byId('login-user').value.trim();
  const password = byId('login-password').value;
  const err = byId('login-error');
  if (!validUser(name)) {
    text(err, 'User names are 1 to 32 lower-case letters, digits, _ or -, starting with a letter.');
    byId('login-user').focus();
    return;
  }
  if (password === '') {
    text(err, 'Type your password.');
    byId('login-password').focus();
    return;
  }
  text(err, '');
  user = name;
  byId('login-submit').disabled = true;
  conn.signIn(name, password);
});

byId('sign-out').addEventListener('click', () => {
  user = null;
  conn.signOut();
  closeMixer();
  store.boxes.clear();
  rows.clear();
  byId('boxes').replaceChildren();
  byId('boxes-empty').hidden = false;
  location.hash = '';
  showScreen('login');
});

// --- screens ---------------------------------------------------------------------------------

function showScreen(name) {
  for (const s of ['login', 'boxes', 'mixer']) {
    const el = byId(`screen-${s}`);
    const show = s === name;
    if (el.hidden === !show) continue;
    el.hidden = !show;
    if (show) {
      // Move focus to the new screen's heading for keyboard and screen-reader users.
      const heading = el.querySelector('h2');
      if (heading && name !== 'login') {
        heading.setAttribute('tabindex', '-1');
        heading.focus();
      }
    }
  }
  if (name === 'login') byId('login-user').focus();
}

function route() {
  if (user === null || !conn.everReady) {
    showScreen('login');
    return;
  }
  const hash = location.hash;
  if (hash.startsWith('#box/')) {
    let key = '';
    try {
      key = decodeURIComponent(hash.slice(5));
    } catch {
      key = '';
    }
    if (validKey(key)) {
      openMixer(key);
      showScreen('mixer');
      return;
    }
  }
  closeMixer();
  showScreen('boxes');
}

window.addEventListener('hashchange', route);

// --- my boxes --------------------------------------------------------------------------------

function renderRow(box) {
  let r = rows.get(box.key);
  if (!r) {
    const dd = () => h('dd', {}, '–');
    r = {
      badge: h('span', { className: 'badge' }),
      room: dd(), members: dd(), rtt: dd(), xruns: dd(), mqtt: dd(), jack: dd(),
      cert: h('p', { className: 'warn', hidden: true }),
      problem: h('p', { className: 'muted', hidden: true }),
    };
    const link = h('a', { href: `#box/${encodeURIComponent(box.key)}`, className: 'open' }, 'Open mixer');
    link.setAttribute('aria-label', `Open the mixer of ${box.key}`);
    r.el = h('li', { className: 'box offline', 'data-box': box.key },
      h('h3', {}, box.key, ' ', r.badge),
      h('dl', {}, h('dt', {}, 'Room'), r.room, h('dt', {}, 'Members'), r.members, h('dt', {}, 'RTT'), r.rtt,
        h('dt', {}, 'Xruns'), r.xruns, h('dt', {}, 'MQTT'), r.mqtt, h('dt', {}, 'JACK'), r.jack),
      r.cert, r.problem, link);
    rows.set(box.key, r);
    // Keep the list sorted by key.
    const list = byId('boxes');
    const after = [...rows.keys()].sort().indexOf(box.key);
    const keys = [...rows.keys()].sort();
    const next = keys[after + 1] !== undefined ? rows.get(keys[after + 1]).el : null;
    list.insertBefore(r.el, next && next.parentNode === list ? next : null);
    byId('boxes-empty').hidden = true;
  }
  const online = store.online(box);
  r.el.classList.toggle('online', online);
  r.el.classList.toggle('offline', !online);
  r.badge.classList.toggle('online', online);
  r.badge.classList.toggle('offline', !online);
  text(r.badge, online ? 'online' : box.noAnswer && box.presence ? 'not answering' : 'offline');
  const s = box.status;
  text(r.room, (s && s.room) || box.stateRoom || 'none');
  text(r.members, s && s.members !== null ? String(s.members) : '–');
  text(r.rtt, s && s.rtt_ms !== null && s.room ? `${fmt(s.rtt_ms)} ms` : '–');
  text(r.xruns, s && s.jack && s.jack.xruns !== null ? String(s.jack.xruns) : '–');
  text(r.mqtt, (s && s.connection_state) || '–');
  text(r.jack, (s && s.jack && s.jack.state) || '–');
  const days = s ? s.cert_days : null;
  r.cert.hidden = !(typeof days === 'number' && days < CERT_WARN_DAYS);
  text(r.cert, r.cert.hidden ? '' : days < 0 ? 'The box\'s certificate has expired.'
    : `The box's certificate expires in ${days} day${days === 1 ? '' : 's'}: ask the admin to renew it.`);
  r.problem.hidden = !(s && s.problem);
  text(r.problem, s && s.problem ? `Problem: ${s.problem}` : '');
}

// --- the mixer -------------------------------------------------------------------------------

function openMixer(key) {
  if (mixer && mixer.key === key) return;
  closeMixer();
  const view = new Mixer({
    key,
    send: (type, payload, done) => sendCommand(key, type, payload, done),
    requestStatus: () => sendCommand(key, 'get_status', {}, (fate) => {
      if (fate.state === 'ok' && isObject(fate.result)) store.onStatus(key, fate.result);
    }),
  });
  const lease = new MeterLease(() =>
    sendCommand(key, 'set_meter_interval', { interval_ms: METER_INTERVAL_MS }, () => {}));
  // The room belongs to the box: its chat is the chat of the box's room, written as this user.
  const chat = new ChatPanel({
    key,
    user,
    send: (payload, failed) => conn.publish(boxTopic(key, `chat/from/${user}`), payload, 1, failed),
  });
  view.setChat(chat.el);
  mixer = { key, view, lease, chat };
  text(byId('mixer-title'), `Mixer: ${key}`);
  byId('mixer-host').replaceChildren(view.el);
  conn.subscribe(boxTopic(key, 'meters'));
  // Once the room topics are subscribed (and again after every reconnect), ask for what was
  // said: the last messages, merged with what arrives live.
  conn.subscribe(boxTopic(key, 'room/#'), () => {
    if (mixer && mixer.chat === chat) chat.subscribed();
  });
  const box = store.get(key);
  if (box) {
    view.update(box);
    chat.onStatus(box.status);
  }
  if (conn.ready) lease.start();
  updateReachable();
}

function closeMixer() {
  if (!mixer) return;
  mixer.lease.stop();
  mixer.chat.close();
  conn.unsubscribe(boxTopic(mixer.key, 'meters'));
  conn.unsubscribe(boxTopic(mixer.key, 'room/#'));
  byId('mixer-host').replaceChildren();
  mixer = null;
}

function updateReachable() {
  if (!mixer) return;
  const box = store.get(mixer.key);
  mixer.chat.setConnected(conn.ready);
  if (!conn.ready) mixer.view.setReachable(false, 'Not connected to the server: controls are paused.');
  else if (!box) mixer.view.setReachable(false, 'Waiting for the box to report…');
  else if (!store.online(box)) mixer.view.setReachable(false, 'The box is offline.');
  else mixer.view.setReachable(true, '');
}

showScreen('login');
// The page is wired up (browser tests wait for this).
document.documentElement.setAttribute('data-app', 'ready');
