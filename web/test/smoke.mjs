// Browser smoke test of the built app against a real mosquitto (npm run smoke; needs mosquitto,
// mosquitto_passwd and chromium). The WebSocket side stands in for the web server's tunnel: it
// serves dist/ and carries /mqtt (subprotocol 'binary' only, like lighttpd mod_wstunnel) to the
// broker's TCP listener. A fake box answers commands and publishes state, status and meters.
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Packages from web/node_modules, or from $JAMBOX_WEB_MODULES (the CMake build tree's).
const modules = process.env.JAMBOX_WEB_MODULES ? path.resolve(process.env.JAMBOX_WEB_MODULES) : null;
const require = createRequire(modules ? path.join(modules, 'resolve-from-here.js') : import.meta.url);
const mqtt = require('mqtt');
const { WebSocketServer, WebSocket } = require('ws');

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const dist = path.resolve(process.env.JAMBOX_WEB_OUT || path.join(here, 'dist'));
const tmp = mkdtempSync(path.join(os.tmpdir(), 'jambox-web-smoke-'));
const children = [];
let failures = 0;
let passes = 0;

function check(ok, what) {
  if (ok) passes++;
  else failures++;
  console.log(`${ok ? 'ok' : 'FAIL'} - ${what}`);
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 10000) {
  const end = Date.now() + ms; // bounds a failing wait only
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

// --- broker ----------------------------------------------------------------------------------
const brokerPort = await freePort();
execFileSync('mosquitto_passwd', ['-b', '-c', path.join(tmp, 'pw'), 'alice', 'secret-a']);
execFileSync('mosquitto_passwd', ['-b', path.join(tmp, 'pw'), 'boxa', 'secret-b']);
// Started as root, mosquitto drops to its own user: it must be able to read the file.
chmodSync(tmp, 0o755);
chmodSync(path.join(tmp, 'pw'), 0o644);
writeFileSync(path.join(tmp, 'mosquitto.conf'), [
  `listener ${brokerPort} 127.0.0.1`, 'allow_anonymous false', `password_file ${path.join(tmp, 'pw')}`,
  'persistence false', ''].join('\n'));
const broker = spawn('mosquitto', ['-c', path.join(tmp, 'mosquitto.conf')], { stdio: 'ignore' });
children.push(broker);

// --- web server + WebSocket tunnel -----------------------------------------------------------
const webPort = await freePort();
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = http.createServer((req, res) => {
  const name = req.url === '/' ? 'index.html' : path.basename(req.url.split('?')[0]);
  const file = path.join(dist, name);
  if (!existsSync(file)) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': types[path.extname(name)] || 'application/octet-stream' });
  res.end(readFileSync(file));
});
let offered = null;
const wss = new WebSocketServer({
  server,
  path: '/mqtt',
  handleProtocols: (protocols) => {
    offered = [...protocols];
    return protocols.has('binary') ? 'binary' : false;
  },
});
wss.on('connection', (ws) => {
  const tcp = net.connect(brokerPort, '127.0.0.1');
  tcp.on('data', (d) => ws.readyState === WebSocket.OPEN && ws.send(d));
  tcp.on('close', () => ws.close());
  tcp.on('error', () => ws.close());
  ws.on('message', (d) => tcp.write(d));
  ws.on('close', () => tcp.destroy());
});
await new Promise((r) => server.listen(webPort, '127.0.0.1', r));

// --- fake box --------------------------------------------------------------------------------
await until('the broker', () => new Promise((r) => {
  const s = net.connect(brokerPort, '127.0.0.1', () => { s.destroy(); r(true); });
  s.on('error', () => r(false));
}));
const base = 'jambox/player/boxa';
const box = mqtt.connect(`mqtt://127.0.0.1:${brokerPort}`, {
  protocolVersion: 5, username: 'boxa', password: 'secret-b', clientId: 'boxa',
  will: { topic: `${base}/status`, payload: '{"player_key":"boxa","status":"offline"}', qos: 1 },
});
const commands = [];
let meterTimer = null;
const status = () => ({
  player_key: 'boxa', status: 'online', connection_state: 'connected', room: 'K7M2QX', link: 'joined',
  members: 2, rtt_ms: 11.5, jack: { state: 'running', xruns: 3, period: 64, sample_rate: 48000 },
  certificate: { expires_in_days: 12, expiring: true }, peers: ['boxb'],
  remotes: [{ session_id: 77, gain_db: -2, pan: 0, muted: false, received: 900, concealed: 100,
    depth_ms: 4, target_ms: 4, jitter_ms: 1, late: 0, underruns: 0 }],
  admission: { room: 'ZZZZZZ', state: 'refused', request_id: 'r1', error_code: 'unknown_code', error: 'x' },
  transport: null,
  mix: { master_gain_db: -3, monitor: { on: false, gain_db: -10 }, metronome: { on: false, bpm: 96, gain_db: -12 },
    muted_to_room: [false, true], jitter: { floor_ms: 1, ceiling_ms: 40, adaptive: true, auto: true } },
});
// A stand-in for the room server's chat relay (docs/control-plane.md, "Room chat"): history on
// request, the echo of accepted messages, refusals for some texts.
const chatRoom = 'K7M2QX';
const chatHistory = [];
const chatRequests = [];
let chatSeq = 0;
const chatEvent = (fields) => {
  const e = { room: chatRoom, seq: ++chatSeq, time: Date.now(), ...fields };
  chatHistory.push(e);
  return e;
};
chatEvent({ event: 'join', box: 'boxa' });
chatEvent({ event: 'join', box: 'boxb' });
for (let i = 3; i <= 60; i++) {
  chatEvent({ event: 'message', from: i % 2 ? 'bob' : 'alice', box: i % 2 ? 'boxb' : 'boxa',
    text: i === 59 ? '<img src=x onerror="document.title=\'pwned\'">' : i === 60 ? 'x'.repeat(300) : `old ${i}` });
}
const refuse = (user, code, clientId) => box.publish(`${base}/room/chat/refused`, JSON.stringify({
  user, error_code: code, error: `refused: ${code}`, ...(clientId ? { client_id: clientId } : {}) }), { qos: 1 });
function onChat(user, doc) {
  chatRequests.push({ user, doc });
  if (doc.history === true) {
    box.publish(`${base}/room/chat/history`, JSON.stringify({ room: chatRoom, events: chatHistory.slice(-50) }), { qos: 1 });
    return;
  }
  const t = String(doc.text).trim();
  if ([...t].length > 500) refuse(user, 'too_long', doc.client_id);
  else if (t === 'too fast') refuse(user, 'rate_limited', null); // refused before it was read
  else if (t === 'nobody here') refuse(user, 'not_in_room', doc.client_id);
  else box.publish(`${base}/room/chat`, JSON.stringify(chatEvent({ event: 'message', from: user, box: 'boxa', text: t })), { qos: 1 });
}

box.on('message', (topic, payload) => {
  if (topic.startsWith(`${base}/chat/from/`)) {
    onChat(topic.split('/').pop(), JSON.parse(payload.toString()));
    return;
  }
  const cmd = JSON.parse(payload.toString());
  commands.push({ topic, cmd });
  const ack = { command_id: cmd.command_id, status: 'ok', error: null, error_code: null };
  if (cmd.command_type === 'get_status') ack.result = status();
  if (cmd.command_type === 'set_master' && cmd.payload.gain_db < -40) {
    Object.assign(ack, { status: 'error', error: 'the audio engine did not take the setting; retry', error_code: 'busy' });
  }
  if (cmd.command_type === 'set_metronome' && !(cmd.payload.bpm >= 30 && cmd.payload.bpm <= 300)) {
    Object.assign(ack, { status: 'error', error: `bpm: must be within 30..300, got ${cmd.payload.bpm}`, error_code: 'invalid_request', field: 'bpm' });
  }
  if (cmd.command_type === 'set_meter_interval' && !meterTimer) {
    meterTimer = setInterval(() => box.publish(`${base}/meters`, JSON.stringify({
      inputs: [{ peak_dbfs: -6.5, rms_dbfs: -12 }, { peak_dbfs: -120, rms_dbfs: -120 }],
      master: [{ peak_dbfs: -3, rms_dbfs: -9 }, { peak_dbfs: -4, rms_dbfs: -10 }],
      remotes: [{ session_id: 77, level: { peak_dbfs: -18, rms_dbfs: -24 } }],
    })), 250);
  }
  box.publish(`${base}/command/ack`, JSON.stringify(ack), { qos: 1 });
});
await new Promise((r) => box.on('connect', r));
await box.subscribeAsync(`${base}/command/from/+`, { qos: 1 });
await box.subscribeAsync(`${base}/chat/from/+`, { qos: 1 });
await box.publishAsync(`${base}/state`, JSON.stringify({ player_key: 'boxa', online: true, room: 'K7M2QX', timestamp: 1 }), { qos: 1, retain: true });

// --- browser over the DevTools protocol -----------------------------------------------------
const cdpPort = await freePort();
const chrome = spawn('chromium', ['--headless', '--no-sandbox', '--disable-gpu', `--remote-debugging-port=${cdpPort}`,
  `--user-data-dir=${path.join(tmp, 'chrome')}`, 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
children.push(chrome);
const target = await until('chromium', async () => {
  try {
    const list = await (await fetch(`http://127.0.0.1:${cdpPort}/json/list`)).json();
    return list.find((t) => t.type === 'page');
  } catch { return null; }
}, 20000);
const cdp = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => cdp.on('open', r));
let seq = 0;
const waiting = new Map();
const consoleErrors = [];
cdp.on('message', (d) => {
  const m = JSON.parse(d.toString());
  if (m.id && waiting.has(m.id)) { waiting.get(m.id)(m); waiting.delete(m.id); }
  if (m.method === 'Runtime.exceptionThrown') consoleErrors.push(m.params.exceptionDetails.text);
  if (m.method === 'Runtime.consoleAPICalled' && m.params.type === 'error') consoleErrors.push(JSON.stringify(m.params.args));
  if (m.method === 'Log.entryAdded' && m.params.entry.level === 'error') consoleErrors.push(m.params.entry.text);
});
const call = (method, params = {}) => new Promise((r) => { const id = ++seq; waiting.set(id, r); cdp.send(JSON.stringify({ id, method, params })); });
const js = async (expr) => (await call('Runtime.evaluate', { expression: expr, returnByValue: true, awaitPromise: true })).result?.result?.value;
await call('Runtime.enable');
await call('Log.enable');
await call('Page.enable');
await call('Page.navigate', { url: `http://127.0.0.1:${webPort}/` });

const signIn = (u, p) => js(`(() => {
  document.getElementById('login-user').value = ${JSON.stringify(u)};
  document.getElementById('login-password').value = ${JSON.stringify(p)};
  document.getElementById('login-submit').click(); return true; })()`);

try {
  await until('the app', () => js(`document.documentElement.getAttribute('data-app') === 'ready'`));
  check(await js(`!document.getElementById('screen-login').hidden`), 'the sign-in screen shows');
  await signIn('alice', 'wrong');
  const err = await until('the sign-in error', () => js(`document.getElementById('login-error').textContent`));
  check(err === 'wrong user name or password', `a wrong password says so (${err})`);
  check(JSON.stringify(offered) === '["binary"]', `the WebSocket offers only 'binary' (${JSON.stringify(offered)})`);
  await signIn('alice', 'secret-a');
  await until('the box row', () => js(`!!document.querySelector('#boxes [data-box="boxa"].online')`));
  check(true, 'the box is listed online');
  await until('get_status', () => commands.some((c) => c.cmd.command_type === 'get_status'));
  check(commands.find((c) => c.cmd.command_type === 'get_status').topic === `${base}/command/from/alice`,
    'get_status was sent to the box under the user\'s own topic');
  await until('the certificate warning', () =>
    js(`/expires in 12 days/.test(document.querySelector('[data-box="boxa"]').textContent)`));
  check(true, 'certificate warning shown');
  check((await js(`document.getElementById('conn-state').textContent`)).startsWith('Connected as alice'), 'connection state visible');
  await js(`location.hash = '#box/boxa'`);
  await until('the mixer', () => js(`!!document.querySelector('#mixer[data-box="boxa"]')`));
  const lvl = await until('live meters', () => js(`(() => { const m = document.querySelector('[data-meter=input1]');
    return m && m.getAttribute('data-level') !== '-120' ? m.getAttribute('data-level') : null; })()`));
  check(lvl === '-6.5', `input meter shows the box's level (${lvl})`);
  await until('remote meter', () => js(`document.querySelector('[data-meter="remote-77"]')?.getAttribute('data-level') === '-18.0'`));
  check(true, 'remote meter live');
  check(await js(`document.querySelector('[data-control="remote-77-gain"]').value`) === '-2', 'remote gain shows the box value');
  check(commands.some((c) => c.cmd.command_type === 'set_meter_interval'), 'meters were asked for');
  check(/unknown_code|no room with that code/.test(await js(`document.getElementById('room-error').textContent`)), 'admission error shown');
  check(await js(`!!document.querySelector('#roster [data-member="boxb"]')`), 'roster lists the peer');
  await until('the box\'s mix', () => js(`document.querySelector('[data-control="master-gain"]').value === '-3'`));
  check(await js(`document.querySelector('[data-control="mute-input2"]').checked && !document.querySelector('[data-control="monitor-on"]').checked`),
    'the mix controls show the box\'s settings');
  if (process.env.JAMBOX_WEB_SHOTS) {
    // Pictures of the mixer on a desktop and on a phone, for a look at the layout.
    for (const [w, hgt, name] of [[1280, 1400, 'mixer-desktop'], [390, 2400, 'mixer-phone']]) {
      await call('Emulation.setDeviceMetricsOverride', { width: w, height: hgt, deviceScaleFactor: 1, mobile: w < 600 });
      await sleep(400);
      const shot = await call('Page.captureScreenshot', { format: 'png' });
      writeFileSync(path.join(process.env.JAMBOX_WEB_SHOTS, `${name}.png`), Buffer.from(shot.result.data, 'base64'));
    }
    await call('Emulation.clearDeviceMetricsOverride');
  }
  const setMaster = (v) => js(`(() => { const i = document.querySelector('[data-control="master-gain"]');
    i.value = '${v}'; i.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`);
  const fate = () => js(`(() => { const f = document.querySelector('[data-control="master-gain"]').parentElement.querySelector('[data-fate]');
    return f.getAttribute('data-state') + '|' + f.textContent; })()`);
  await setMaster(-6);
  await until('ok fate', async () => (await fate()) === 'ok|ok');
  const m = commands.filter((c) => c.cmd.command_type === 'set_master').pop();
  check(m && m.cmd.payload.gain_db === -6, 'set_master sent with gain_db');
  await sleep(300);
  await setMaster(-50);
  const f2 = await until('error fate', async () => ((await fate()).startsWith('error|') ? fate() : null));
  check(f2 === 'error|the audio engine did not take the setting; retry', `the box's error shows (${f2})`);
  check(await js(`document.querySelector('[data-control="master-gain"]').value`) === '-6', 'the fader went back to the box value');
  await js(`(() => { const e = document.querySelector('[data-control="metronome-bpm"]'); e.value = '500';
    e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true })); return 1; })()`);
  const bpmFate = await until('the tempo\'s fate', () => js(`(() => { const f = document.querySelector('[data-control="metronome-bpm"]').parentElement.querySelector('[data-fate]');
    return f.getAttribute('data-state') === 'error' ? f.textContent : null; })()`));
  check(/bpm/.test(bpmFate), `an out-of-range tempo shows the box's refusal (${bpmFate})`);
  check(await js(`document.querySelector('[data-control="metronome-bpm"]').value`) === '96', 'the tempo returns to the box value');
  check(await js(`document.getElementById('room-code').value`) === 'K7M2QX', 'the code field shows the room the box is in');
  check(await js(`!!document.querySelector('#roster [data-member="boxa"]')`), 'the roster lists the box itself');
  await js(`(() => { document.getElementById('room-code').value = 'k7m2qx'; document.getElementById('room-join').click(); return 1; })()`);
  await until('join_room', () => commands.some((c) => c.cmd.command_type === 'join_room'));
  check(commands.find((c) => c.cmd.command_type === 'join_room').cmd.payload.room === 'K7M2QX', 'join_room upper-cases the code');

  // --- room chat ---------------------------------------------------------------------------
  const shown = () => js(`[...document.querySelectorAll('#chat-log [data-seq]')].map((e) => Number(e.getAttribute('data-seq')))`);
  await until('the chat history', async () => (await shown()).length === 50);
  const seqs = await shown();
  check(seqs[0] === 11 && seqs[49] === 60 && chatRequests[0]?.doc.history === true && chatRequests[0].user === 'alice',
    `the last 50 events show once the page asked for the history (${seqs[0]}..${seqs[49]})`);
  check(await js(`document.querySelector('#chat-log [data-seq="59"] .chat-text').textContent`) === '<img src=x onerror="document.title=\'pwned\'">'
    && await js(`document.querySelectorAll('#chat-log img').length === 0 && document.title !== 'pwned'`),
  'markup in a message is shown as text');
  check(await js(`(() => { const l = document.getElementById('chat-log'); return l.scrollWidth <= l.clientWidth; })()`),
    'a long word wraps inside the log');
  check(await js(`/alice/.test(document.querySelector('#chat-log [data-seq="12"] .chat-from').textContent)`), 'the sender is named');
  check(await js(`document.getElementById('chat-log').getAttribute('aria-live') === 'polite' && !!document.querySelector('label[for=chat-input]')`),
    'the log is a polite live region and the field has a label');
  // History again (another page asked) and a repeated live event: no duplicates.
  box.publish(`${base}/room/chat/history`, JSON.stringify({ room: chatRoom, events: chatHistory.slice(-50) }), { qos: 1 });
  box.publish(`${base}/room/chat`, JSON.stringify(chatHistory[59]), { qos: 1 });
  const live = chatEvent({ event: 'leave', box: 'boxb' });
  box.publish(`${base}/room/chat`, JSON.stringify(live), { qos: 1 });
  await until('the leave notice', () => js(`!!document.querySelector('#chat-log [data-seq="${live.seq}"]')`));
  check((await shown()).length === 51 && new Set(await shown()).size === 51, 'history and live events merge without duplicates');
  check(await js(`(() => { const l = document.getElementById('chat-log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 32; })()`),
    'the log follows the newest event');
  const sendChat = (t) => js(`(() => { const i = document.getElementById('chat-input'); i.value = ${JSON.stringify(t)};
    i.dispatchEvent(new Event('input', { bubbles: true })); document.getElementById('chat-send').click(); return 1; })()`);
  const echoSeq = chatSeq + 1;
  await sendChat('  <script>alert(1)</script>  ');
  const mine = await until('the echo of our message', () => js(`(() => { const e = document.querySelector('#chat-log [data-seq="${echoSeq}"]');
    return e && e.classList.contains('mine') ? e.querySelector('.chat-text').textContent : null; })()`));
  const sent = chatRequests[chatRequests.length - 1].doc;
  check(mine === '<script>alert(1)</script>' && /^[A-Za-z0-9_.-]{1,64}$/.test(sent.client_id),
    `our message comes back from the room server and shows as text (${mine})`);
  await until('the field cleared', () => js(`document.getElementById('chat-input').value === ''`));
  check(true, 'the field is emptied once the message was accepted');
  const long = 'y'.repeat(600);
  await sendChat(long);
  const tooLong = await until('the too_long refusal', () => js(`document.getElementById('chat-error').getAttribute('data-code')`));
  check(tooLong === 'too_long' && /too long/.test(await js(`document.getElementById('chat-error').textContent`)),
    'an over-long message is refused with a human message');
  check(await js(`document.getElementById('chat-input').value.length`) === 600, 'the refused text stays in the field');
  check(await js(`document.getElementById('chat-count').classList.contains('over')`), 'the counter shows the text is too long');
  await sendChat('too fast');
  await until('the rate_limited refusal', () => js(`document.getElementById('chat-error').getAttribute('data-code') === 'rate_limited'`));
  check(await js(`document.getElementById('chat-input').value`) === 'too fast', 'a refusal without client_id is the pending message\'s');
  // A refusal for another user of the box is not ours.
  refuse('bob', 'too_long', null);
  await sendChat('nobody here');
  await until('the not_in_room refusal', () => js(`document.getElementById('chat-error').getAttribute('data-code') === 'not_in_room'`));
  check(await js(`document.getElementById('chat').getAttribute('data-in-room')`) === 'false', 'not_in_room shows the box is in no room');
  if (process.env.JAMBOX_WEB_SHOTS) {
    const shot = await call('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    writeFileSync(path.join(process.env.JAMBOX_WEB_SHOTS, 'chat.png'), Buffer.from(shot.result.data, 'base64'));
  }

  // The box dies: its Will says offline.
  box.stream.destroy();
  await until('offline', () => js(`!!document.querySelector('#boxes [data-box="boxa"].offline')`));
  check(true, 'the Last Will marks the box offline');
  // The broker goes away and comes back: the page shows it, retries on its own schedule and
  // renews its subscriptions (a status published after the return reaches the page).
  broker.kill();
  await until('reconnecting', () => js(`document.getElementById('conn-state').getAttribute('data-state') === 'reconnecting'`));
  check(/retrying in \d+ s/.test(await js(`document.getElementById('conn-state').textContent`)), 'the retry countdown shows');
  const again = spawn('mosquitto', ['-c', path.join(tmp, 'mosquitto.conf')], { stdio: 'ignore' });
  children.push(again);
  await until('connected again', () => js(`document.getElementById('conn-state').getAttribute('data-state') === 'connected'`), 20000);
  const box2 = mqtt.connect(`mqtt://127.0.0.1:${brokerPort}`, { protocolVersion: 5, username: 'boxa', password: 'secret-b' });
  await new Promise((r) => box2.on('connect', r));
  await box2.publishAsync(`${base}/status`, JSON.stringify(status()), { qos: 1 });
  await until('online after the return', () => js(`!!document.querySelector('#boxes [data-box="boxa"].online')`));
  check(true, 'subscriptions renewed after reconnecting');
  box2.end(true);
  check(consoleErrors.length === 0, `no console errors (${consoleErrors.join('; ')})`);
} catch (e) {
  check(false, e.message);
  console.log('conn-state:', await js(`document.getElementById('conn-state').textContent`));
  console.log('login-error:', await js(`document.getElementById('login-error').textContent`));
  console.log('hash:', await js('location.hash'), 'boxes:', await js(`document.getElementById('boxes').innerHTML.slice(0, 500)`));
  console.log('console errors:', consoleErrors.join('; '));
} finally {
  if (meterTimer) clearInterval(meterTimer);
  cdp.close();
  box.end(true);
  wss.close();
  server.close();
  for (const c of children) c.kill();
  await sleep(200);
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
