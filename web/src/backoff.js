// Reconnect delays: 1 s doubling up to 300 s, each stretched by 0..25 % at random so that many
// pages that lost the server together do not all come back in the same second. Reset once a
// connection is ready (the same rule as the box's own session, docs/control-plane.md).

export const MIN_DELAY_MS = 1000;
export const MAX_DELAY_MS = 300000;
export const JITTER = 0.25;

export class Backoff {
  constructor(random = Math.random) {
    this.random = random;
    this.failures = 0;
  }

  // The delay before the next attempt; each call counts one more failure.
  next() {
    const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** Math.min(this.failures, 30));
    this.failures += 1;
    return Math.round(base * (1 + JITTER * this.random()));
  }

  reset() {
    this.failures = 0;
  }
}
