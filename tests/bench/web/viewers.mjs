// N web viewers of one box, the way the web mixer watches it: MQTT 5 over the WebSocket of
// jambox-web (subprotocol "binary"), subscribed to the box's status, meters, state and acks,
// renewing the meter lease with the web app's own rule (web/src/meter-lease.js). Used by
// web-bench.sh to show that many open pages cost the box one meters stream.
//
// env: JAMBOX_WEB_MODULES (node_modules with mqtt), URL (wss://127.0.0.1:PORT/mqtt), USER_NAME,
//      PASSWORD, BOX, VIEWERS, SECONDS, CA (the broker CA file)
// Prints one JSON line: viewers connected, meters messages received, renewals sent.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { MeterLease } from '../../../web/src/meter-lease.js';

const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(`${need('JAMBOX_WEB_MODULES')}/`);
const mqtt = require('mqtt');
const WebSocket = require('ws');

const url = need('URL');
const box = need('BOX');
const viewers = Number(need('VIEWERS'));
const seconds = Number(need('SECONDS'));
const ca = readFileSync(need('CA'));
const base = `jambox/player/${box}`;
const user = need('USER_NAME');

let connected = 0;
let meters = 0;
let renewals = 0;
const clients = [];

// Pages open one after another, not in the same millisecond: 20 ms apart.
for (let i = 0; i < viewers; i += 1) {
  await new Promise((resolve) => { setTimeout(resolve, Number(process.env.STAGGER_MS ?? 20)); });
  const client = mqtt.connect(url, {
    protocolVersion: 5,
    username: user,
    password: need('PASSWORD'),
    clientId: `viewer-${i}-${randomUUID().slice(0, 8)}`,
    reconnectPeriod: 0,
    clean: true,
    createWebsocket: (u) => new WebSocket(u, ['binary'], { ca }),
  });
  const lease = new MeterLease(() => {
    renewals += 1;
    client.publish(`${base}/command/from/${user}`, JSON.stringify({
      command_id: randomUUID(), command_type: 'set_meter_interval',
      payload: { interval_ms: 250 }, timestamp: Date.now() / 1000,
    }), { qos: 1 });
  });
  client.on('connect', () => {
    connected += 1;
    client.subscribe([`${base}/status`, `${base}/meters`, `${base}/state`, `${base}/command/ack`],
      { qos: 1 }, () => lease.start());
  });
  client.on('message', (topic, payload) => {
    if (topic !== `${base}/meters`) return;
    meters += 1;
    try {
      const m = JSON.parse(payload.toString());
      lease.onMeters(m.lease_ms_left);
    } catch { /* counted as received; a bad document changes nothing */ }
  });
  client.on('error', (e) => process.stderr.write(`viewer ${i}: ${e.message}\n`));
  clients.push({ client, lease });
}

setTimeout(() => {
  for (const { client, lease } of clients) {
    lease.stop();
    client.end(true);
  }
  process.stdout.write(`${JSON.stringify({ viewers, connected, meters, renewals })}\n`);
  process.exit(connected === viewers ? 0 : 1);
}, seconds * 1000);
