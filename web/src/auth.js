// Whether the broker refused a sign-in because of the credentials (never retried: it would only
// lock the account's owner out of the broker's logs and burn attempts). Its own module, without
// mqtt.js, so the unit tests run with node alone.

// CONNACK reason codes that mean "these credentials are not accepted".
// MQTT 5: 0x86 bad user name or password, 0x87 not authorized; MQTT 3.1.1: 4 and 5.
const AUTH_REFUSED_V5 = new Set([0x86, 0x87]);
const AUTH_REFUSED_V3 = new Set([4, 5]);

export function isAuthRefusal(error) {
  const code = error && typeof error.code === 'number' ? error.code : null;
  if (code === null) return false;
  return AUTH_REFUSED_V5.has(code) || AUTH_REFUSED_V3.has(code);
}
