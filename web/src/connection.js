// The page's one MQTT 5 session with the broker, over a WebSocket to the page's own origin.
//
// mqtt.js's own reconnect is off: a browser that lost the server retries on the same schedule
// as a box (1 s doubling to 300 s, 0..25 % jitter, reset once ready), and each connect is a
// clean start, so the page renews its subscriptions itself every time. A refused sign-in
// (wrong user name or password) is never retried: it would only lock the account's owner out
// of the broker's logs and burn attempts.

import mqtt from 'mqtt';
import { isAuthRefusal } from './auth.js';
import { Backoff } from './backoff.js';

// Same origin as the page: wss:// for the real (https) deployment; a page served over plain
// http (a developer's machine) could not open wss:// to the same host anyway.
export function brokerUrl(loc = globalThis.location) {
  return `${loc.protocol === 'http:' ? 'ws' : 'wss'}://${loc.host}/mqtt`;
}

// The web server in front of the broker tunnels only the WebSocket subprotocols 'binary' and
// 'base64' (lighttpd mod_wstunnel), not 'mqtt': open the socket with 'binary'.
export function createWebsocket(url) {
  const ws = new WebSocket(url, ['binary']);
  ws.binaryType = 'arraybuffer';
  return ws;
}

function randomSuffix() {
  const b = new Uint8Array(6);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

// States shown to the musician: signed-out, connecting, connected, reconnecting.
export class Connection {
  constructor({ url, onState, onMessage, onReady, onAuthRefused, onLost }) {
    this.url = url;
    this.onState = onState || (() => {});
    this.onMessage = onMessage || (() => {});
    this.onReady = onReady || (() => {});
    this.onAuthRefused = onAuthRefused || (() => {});
    this.onLost = onLost || (() => {});
    this.backoff = new Backoff();
    this.client = null;
    this.user = null;
    this.password = null;
    this.filters = new Map(); // filter -> called once the broker granted it, on every connect
    this.ready = false;
    this.retryTimer = null;
    this.retryAt = 0;
    this.state = 'signed-out';
    this.detail = '';
    this.everReady = false;
  }

  setState(state, detail = '') {
    this.state = state;
    this.detail = detail;
    this.onState(state, detail, this.retryAt);
  }

  signIn(user, password) {
    this.signOut();
    this.user = user;
    this.password = password;
    this.everReady = false;
    this.backoff.reset();
    this.attempt();
  }

  signOut() {
    this.user = null;
    this.password = null;
    this.clearRetry();
    this.drop();
    this.setState('signed-out');
  }

  clearRetry() {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  // Ends the current client without a trace of it reaching our handlers.
  drop() {
    const old = this.client;
    this.client = null;
    const wasReady = this.ready;
    this.ready = false;
    if (old) {
      old.removeAllListeners();
      old.on('error', () => {});
      old.end(true);
    }
    if (wasReady) this.onLost();
  }

  attempt() {
    this.clearRetry();
    if (this.user === null) return;
    this.setState('connecting');
    let authRefused = false;
    let client;
    try {
      client = mqtt.connect(this.url, {
        protocolVersion: 5,
        clean: true,
        clientId: `web-${this.user}-${randomSuffix()}`,
        username: this.user,
        password: this.password,
        keepalive: 30,
        connectTimeout: 10000,
        reconnectPeriod: 0, // our own backoff below
        resubscribe: false, // our own subscriptions on every connect
        createWebsocket,
      });
    } catch (e) {
      this.scheduleRetry(String((e && e.message) || e));
      return;
    }
    this.client = client;
    const mine = () => this.client === client;
    client.on('connect', () => {
      if (mine()) this.subscribeAll(client);
    });
    client.on('error', (err) => {
      if (!mine()) return;
      if (isAuthRefusal(err)) authRefused = true;
    });
    client.on('disconnect', (packet) => {
      if (!mine()) return;
      const rc = packet && typeof packet.reasonCode === 'number' ? packet.reasonCode : 0;
      this.detail = `the server ended the session (reason ${rc})`;
    });
    // Retained states arrive between the first SUBACK and the last: take them as they come.
    client.on('message', (topic, payload, packet) => {
      if (mine()) this.onMessage(topic, payload, packet);
    });
    client.on('close', () => {
      if (!mine()) return;
      // The CONNACK refusal's 'error' and the socket's 'close' come in either order.
      setTimeout(() => {
        if (!mine()) return;
        const why = this.detail;
        this.drop();
        if (authRefused) {
          this.user = null;
          this.password = null;
          this.setState('signed-out', 'wrong user name or password');
          this.onAuthRefused();
          return;
        }
        this.scheduleRetry(why || 'the connection was lost');
      }, 0);
    });
  }

  subscribeAll(client) {
    const filters = [...this.filters.keys()];
    let left = filters.length;
    const refused = [];
    const granted = [];
    const done = () => {
      if (this.client !== client) return;
      this.ready = true;
      this.everReady = true;
      this.backoff.reset();
      this.setState('connected', refused.length ? `refused: ${refused.join(', ')}` : '');
      this.onReady();
      // Only now may the callbacks publish (a publish before ready is refused).
      for (const f of granted) {
        const cb = this.filters.get(f);
        if (cb && this.client === client) cb();
      }
    };
    if (left === 0) {
      done();
      return;
    }
    for (const f of filters) {
      client.subscribe(f, { qos: 1 }, (err) => {
        if (err) refused.push(f);
        else granted.push(f);
        left -= 1;
        if (left === 0) done();
      });
    }
  }

  scheduleRetry(why) {
    this.clearRetry();
    if (this.user === null) return;
    const delay = this.backoff.next();
    this.retryAt = Date.now() + delay;
    this.retryTimer = setTimeout(() => this.attempt(), delay);
    this.setState('reconnecting', why);
  }

  // Try now instead of waiting out the backoff (the musician asked to).
  retryNow() {
    if (this.user !== null && this.state === 'reconnecting') this.attempt();
  }

  // onGranted(): the broker granted the subscription (on every connect while it is kept).
  subscribe(filter, onGranted = null) {
    if (this.filters.has(filter)) return;
    this.filters.set(filter, onGranted);
    const client = this.client;
    if (this.ready && client) {
      client.subscribe(filter, { qos: 1 }, (err) => {
        if (!err && onGranted && this.client === client && this.filters.get(filter) === onGranted) onGranted();
      });
    }
  }

  unsubscribe(filter) {
    if (!this.filters.delete(filter)) return;
    if (this.ready && this.client) this.client.unsubscribe(filter, () => {});
  }

  // Returns false when not connected. failed(message) when the server refuses the publish.
  publish(topic, text, qos, failed = () => {}) {
    if (!this.ready || !this.client) return false;
    this.client.publish(topic, text, { qos }, (err) => {
      if (err) failed(`the server refused the message: ${err.message || err}`);
    });
    return true;
  }
}
