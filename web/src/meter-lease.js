// Keeps a box's meters flowing while its mixer is open, without every viewer renewing.
//
// set_meter_interval starts a 10 s lease on the box, which publishes ONE meters stream however
// many pages watch. Each meters message says how long the lease has left (lease_ms_left). A page
// renews only when less than 4 s are left, after a random 0..1500 ms delay, and gives up its
// renewal when a later message shows someone else renewed meanwhile: with many viewers, usually
// one command per lease reaches the box instead of one per viewer.
//
// Boxes whose meters do not carry lease_ms_left yet are renewed every 5 s (half the lease).
// A stream that stopped (the lease ran out while this page was away, the box restarted) is
// restarted by a watchdog.

export const LEASE_LOW_MS = 4000;
export const RENEW_SPREAD_MS = 1500;
export const BLIND_RENEW_MS = 5000;
export const WATCHDOG_MS = 4000;
// After renewing, meters still showing the old lease (already in flight) must not trigger
// another renewal.
export const SENT_GUARD_MS = 2000;

export class MeterLease {
  // send(): asks the box for meters (set_meter_interval). clock: { now, setTimeout, clearTimeout }.
  constructor(send, clock = globalThis, random = Math.random) {
    this.send = send;
    this.clock = clock;
    this.random = random;
    this.running = false;
    this.renewTimer = null;
    this.leftAtSchedule = 0;
    this.blindTimer = null;
    this.watchdog = null;
    this.lastSent = -Infinity;
    this.lastMeters = -Infinity;
    this.leaseField = false; // the box reports lease_ms_left
  }

  now() {
    return this.clock.now ? this.clock.now() : Date.now();
  }

  // Mixer opened, or the connection (re)made: ask at once.
  start() {
    this.stop();
    this.running = true;
    this.renew();
    this.armWatchdog();
    this.armBlind();
  }

  stop() {
    this.running = false;
    this.cancelRenew();
    if (this.blindTimer !== null) this.clock.clearTimeout(this.blindTimer);
    if (this.watchdog !== null) this.clock.clearTimeout(this.watchdog);
    this.blindTimer = null;
    this.watchdog = null;
  }

  renew() {
    this.lastSent = this.now();
    this.send();
  }

  cancelRenew() {
    if (this.renewTimer !== null) this.clock.clearTimeout(this.renewTimer);
    this.renewTimer = null;
  }

  // A meters message arrived; leaseMsLeft is its lease_ms_left, or null when it has none.
  onMeters(leaseMsLeft) {
    if (!this.running) return;
    this.lastMeters = this.now();
    this.armWatchdog();
    if (typeof leaseMsLeft !== 'number' || !Number.isFinite(leaseMsLeft)) return;
    if (!this.leaseField) {
      this.leaseField = true;
      if (this.blindTimer !== null) this.clock.clearTimeout(this.blindTimer);
      this.blindTimer = null;
    }
    if (this.renewTimer !== null) {
      // Someone (maybe another page) renewed since we decided to: leave it.
      if (leaseMsLeft > this.leftAtSchedule) this.cancelRenew();
      return;
    }
    if (leaseMsLeft >= LEASE_LOW_MS) return;
    if (this.now() - this.lastSent < SENT_GUARD_MS) return;
    this.leftAtSchedule = leaseMsLeft;
    this.renewTimer = this.clock.setTimeout(() => {
      this.renewTimer = null;
      if (this.running) this.renew();
    }, Math.floor(this.random() * RENEW_SPREAD_MS));
  }

  armBlind() {
    if (this.blindTimer !== null) this.clock.clearTimeout(this.blindTimer);
    this.blindTimer = this.clock.setTimeout(() => {
      this.blindTimer = null;
      if (!this.running || this.leaseField) return;
      this.renew();
      this.armBlind();
    }, BLIND_RENEW_MS);
  }

  armWatchdog() {
    if (this.watchdog !== null) this.clock.clearTimeout(this.watchdog);
    this.watchdog = this.clock.setTimeout(() => {
      this.watchdog = null;
      if (!this.running) return;
      // No meters for a while: the lease lapsed (or the box is away). Ask again, but not
      // more often than the watchdog period.
      if (this.now() - this.lastSent >= WATCHDOG_MS) this.renew();
      this.armWatchdog();
    }, WATCHDOG_MS);
  }
}
