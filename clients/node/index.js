// Test helpers for flat2model-mock, the offline fake of the PiktID v2
// flat-lay-on-model API, for node:test, Jest or Vitest: start or reach a
// fake, take a tenant of one's own, choose scenarios, move the clock, assert
// on the request journal. The same verbs as the pytest plugin
// (clients/python). Node's built-ins only: fetch, child_process, crypto.

import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';

/** The journal's name for the caller holding `token`: the first 12 hex
 * digits of its SHA-256 (the token itself is never recorded). */
export function callerOf(token) {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

/** A running fake at `baseUrl` (`adminToken` if it has one). */
export class Fake {
  constructor(baseUrl, { adminToken, child } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.adminHeaders = adminToken ? { Authorization: `Bearer ${adminToken}` } : {};
    this.child = child;
  }

  /** A control API call (`/__admin`…): its JSON answer; throws with the
   * fake's error body on a non-2xx answer. */
  async admin(method, path, body, query) {
    const url = new URL(this.baseUrl + path);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
    const res = await fetch(url, {
      method,
      headers: { ...this.adminHeaders, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /** A fresh tenant with a token of its own (`{jobRateLimit: 0}`: no rate
   * limit; `{scenario}`). */
  async newTenant({ jobRateLimit, scenario } = {}) {
    const body = {};
    if (jobRateLimit !== undefined) body.job_rate_limit = jobRateLimit;
    if (scenario !== undefined) body.scenario = scenario;
    const t = await this.admin('POST', '/__admin/tenants', body);
    return new Tenant(this, t.token, t.account);
  }

  /** Stops the fake if this process started it. */
  async close() {
    if (!this.child || this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill();
    await exited;
  }
}

/** Starts the fake's binary on 127.0.0.1, a free port, jobs instant
 * (`--time-scale 0`); `binary`: a path, else `F2M_MOCK_SERVER`, else
 * `mock-server` on PATH. */
export async function startFake({ binary, args = [] } = {}) {
  const bin = binary ?? process.env.F2M_MOCK_SERVER ?? 'mock-server';
  const child = spawn(bin, ['--port', '0', '--time-scale', '0', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the fake exited (${code}) before it listened`)));
    lines.once('line', resolve);
  });
  if (!first.startsWith('listening on ')) {
    child.kill();
    throw new Error(`the fake did not start: ${first}`);
  }
  // Keep reading stdout so the fake never blocks on a full pipe.
  lines.on('line', () => {});
  return new Fake(first.slice('listening on '.length), { child });
}

/** `F2M_BASE_URL` when set, else a fake started from the binary. */
export async function fake(options = {}) {
  const base = process.env.F2M_BASE_URL;
  return base ? new Fake(base, { adminToken: process.env.MOCK_ADMIN_TOKEN }) : startFake(options);
}

/** The fake's clock: the whole fake's (moving it on a shared fake moves
 * everyone's). */
export class Clock {
  constructor(fake) {
    this.fake = fake;
  }

  /** Moves the clock forward (`'15m'`, `'1h 30m'`, or seconds); what falls
   * due happens at once. */
  advance(duration) {
    return this.fake.admin('POST', '/__admin/clock', { advance: duration });
  }

  async now() {
    return (await this.fake.admin('GET', '/__admin/clock')).now;
  }
}

/** What one tenant's token sent, as the fake recorded it. */
export class Journal {
  constructor(fake, caller) {
    this.fake = fake;
    this.caller = caller;
  }

  /** The recorded requests (filters: method, path — `/jobs/{id}/status`
   * works —, status, violations, ignored_retry_after, after). */
  async requests(filters = {}) {
    return (await this.fake.admin('GET', '/__admin/journal', undefined, { ...filters, caller: this.caller })).requests;
  }

  /** The requests that broke the contract or ignored a Retry-After. */
  async flagged() {
    return (await this.requests()).filter((r) => r.violations.length > 0 || r.ignored_retry_after);
  }

  /** Throws, naming each request, rule and field, if any request broke the
   * contract or ignored a Retry-After. */
  async assertClean() {
    const lines = [];
    for (const r of await this.flagged()) {
      const name = `#${r.seq} ${r.method} ${r.path} → ${r.status}`;
      for (const v of r.violations) lines.push(`${name}: ${v}`);
      if (r.ignored_retry_after) lines.push(`${name}: sent before the Retry-After of an earlier 429 had passed`);
      if (r.request_body?.text) lines.push(`    request body: ${r.request_body.text.slice(0, 500)}`);
    }
    if (lines.length > 0) throw new Error(`the client broke the contract:\n${lines.join('\n')}`);
  }

  /** Throws unless at least `atLeast` requests `method path` were sent. */
  async assertSent(method, path, atLeast = 1) {
    const n = (await this.requests({ method, path })).length;
    if (n < atLeast) throw new Error(`expected at least ${atLeast} ${method} ${path}, the client sent ${n}`);
  }

  /** The flagged requests (`{all: true}`: every one) as a HAR object. */
  har({ all = false } = {}) {
    return this.fake.admin('GET', '/__admin/journal.har', undefined, all ? { caller: this.caller } : { caller: this.caller, violations: true });
  }
}

/** One tenant of a fake: a token nobody else uses, its settings, its
 * journal, its reset. */
export class Tenant {
  constructor(fake, token, account) {
    this.fake = fake;
    this.token = token;
    this.account = account;
    this.caller = callerOf(token);
    this.clock = new Clock(fake);
    this.journal = new Journal(fake, this.caller);
  }

  get baseUrl() {
    return this.fake.baseUrl;
  }

  get headers() {
    return { Authorization: `Bearer ${this.token}` };
  }

  /** Changes this tenant's settings (`job_rate_limit`, `scenario`; `null`
   * goes back to the default); the settings afterwards. */
  settings(changes = {}) {
    return this.fake.admin('PATCH', `/__admin/tenants/${this.account}`, changes);
  }

  /** Runs `fn` under scenario `name` (for this tenant alone), then restores
   * the one before: `await tenant.scenario('refuse-fallback', async () => …)`. */
  async scenario(name, fn) {
    const before = (await this.fake.admin('GET', `/__admin/tenants/${this.account}`)).scenario;
    await this.settings({ scenario: name });
    try {
      return await fn(this);
    } finally {
      await this.settings({ scenario: before });
    }
  }

  /** Forgets this tenant's data, journal and settings; the token stays. */
  reset() {
    return this.fake.admin('POST', '/__admin/reset', { token: this.token });
  }
}
