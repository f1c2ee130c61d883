import { UpstreamPool } from './pool.js';
import type { ResponseSink, UpstreamError } from './pool.js';

/**
 * An upstream: its targets, how one is picked, and whether each may be picked.
 *
 * Availability of a target = active health (when a healthCheck is configured) AND its circuit
 * breaker. The breaker is also the passive health check: `failureThreshold` consecutive transport
 * failures or timeouts open it for `openMs`; then exactly one trial request is let through
 * (half-open) and its outcome closes or re-opens the breaker.
 */

export type Balance = 'round_robin' | 'weighted' | 'least_outstanding';

export interface TargetSpec { url: string; weight: number }

export interface GroupOptions {
  name: string;
  targets: TargetSpec[];
  balance: Balance;
  maxSockets: number;
  idleTimeoutMs: number;
  /** Requests per socket; 1 = no pipelining. */
  pipelining?: number;
  connectTimeoutMs: number;
  retries: number;
  healthCheck?: {
    path: string; intervalMs: number; timeoutMs: number;
    healthyThreshold: number; unhealthyThreshold: number; expectStatus: [number, number];
  } | undefined;
  circuitBreaker: { failureThreshold: number; openMs: number };
}

const CLOSED = 0, OPEN = 1, HALF_OPEN = 2;

export class Target {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** "host: 127.0.0.1:9001\r\n", ready to prefix the upstream header block. */
  readonly hostLine: string;
  readonly weight: number;
  readonly pool: UpstreamPool;
  /** Active health (true when no active check is configured). */
  healthy = true;
  healthStreak = 0;
  breaker = CLOSED;
  failures = 0;
  openUntil = 0;
  /** Smooth weighted round robin state (nginx's algorithm). */
  currentWeight = 0;

  constructor(spec: TargetSpec, opts: GroupOptions) {
    const u = new URL(spec.url);
    this.url = spec.url;
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = u.port === '' ? 80 : Number(u.port);
    this.hostLine = `host: ${u.host}\r\n`;
    this.weight = spec.weight;
    this.pool = new UpstreamPool({
      host: this.host, port: this.port,
      maxSockets: opts.maxSockets, idleTimeoutMs: opts.idleTimeoutMs, pipelining: opts.pipelining,
    });
  }

  get available(): boolean {
    return this.healthy && this.breaker === CLOSED;
  }
}

export class UpstreamGroup {
  readonly name: string;
  readonly targets: Target[];
  readonly balance: Balance;
  readonly retries: number;
  readonly connectTimeoutMs: number;
  private rr = 0;
  private readonly opts: GroupOptions;
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;

  constructor(opts: GroupOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.balance = opts.balance;
    this.retries = opts.retries;
    this.connectTimeoutMs = opts.connectTimeoutMs;
    this.targets = opts.targets.map((t) => new Target(t, opts));
  }

  /**
   * Picks a target, skipping `exclude` (the one a retry just failed on) and unavailable ones.
   * An open breaker whose time is up lets exactly one request through (half-open).
   */
  pick(exclude: Target | null, now: number): Target | null {
    const ts = this.targets;
    const n = ts.length;
    if (n === 1) {
      const t = ts[0]!;
      return t !== exclude && this.admit(t, now) ? t : null;
    }
    switch (this.balance) {
      case 'least_outstanding': {
        let best: Target | null = null;
        const start = this.rr++ % n; // rotate the tie-break so equal loads spread
        for (let k = 0; k < n; k++) {
          const t = ts[(start + k) % n]!;
          if (t === exclude || !this.usable(t, now)) continue;
          if (best === null || t.pool.outstanding < best.pool.outstanding) best = t;
        }
        return best !== null && this.admit(best, now) ? best : null;
      }
      case 'weighted': {
        let total = 0;
        let best: Target | null = null;
        for (let k = 0; k < n; k++) {
          const t = ts[k]!;
          if (t === exclude || !this.usable(t, now)) continue;
          t.currentWeight += t.weight;
          total += t.weight;
          if (best === null || t.currentWeight > best.currentWeight) best = t;
        }
        if (best === null) return null;
        best.currentWeight -= total;
        return this.admit(best, now) ? best : null;
      }
      default: {
        for (let k = 0; k < n; k++) {
          const t = ts[this.rr++ % n]!;
          if (t !== exclude && this.usable(t, now) && this.admit(t, now)) return t;
        }
        if (this.rr > 0x3fffffff) this.rr = 0;
        return null;
      }
    }
  }

  /** Could take a request (without consuming a half-open trial). */
  private usable(t: Target, now: number): boolean {
    if (!t.healthy) return false;
    return t.breaker === CLOSED || (t.breaker === OPEN && now >= t.openUntil);
  }

  private admit(t: Target, now: number): boolean {
    if (!t.healthy) return false;
    if (t.breaker === CLOSED) return true;
    if (t.breaker === OPEN && now >= t.openUntil) {
      t.breaker = HALF_OPEN; // this request is the trial
      return true;
    }
    return false;
  }

  success(t: Target): void {
    t.failures = 0;
    if (t.breaker !== CLOSED) t.breaker = CLOSED;
  }

  failure(t: Target, now: number): void {
    t.failures++;
    if (t.breaker === HALF_OPEN || t.failures >= this.opts.circuitBreaker.failureThreshold) {
      t.breaker = OPEN;
      t.openUntil = now + this.opts.circuitBreaker.openMs;
    }
  }

  startHealthChecks(): void {
    const hc = this.opts.healthCheck;
    if (!hc || this.stopped) return;
    for (const t of this.targets) {
      const timer = setInterval(() => this.check(t), hc.intervalMs);
      timer.unref();
      this.timers.push(timer);
      this.check(t);
    }
  }

  private check(t: Target): void {
    const hc = this.opts.healthCheck!;
    let settled = false;
    const done = (ok: boolean) => {
      if (settled || this.stopped) return;
      settled = true;
      if (ok) {
        t.healthStreak = t.healthStreak > 0 ? t.healthStreak + 1 : 1;
        if (!t.healthy && t.healthStreak >= hc.healthyThreshold) {
          t.healthy = true;
          // A target that passes active checks again gets a fresh breaker.
          t.breaker = CLOSED;
          t.failures = 0;
        }
      } else {
        t.healthStreak = t.healthStreak < 0 ? t.healthStreak - 1 : -1;
        if (t.healthy && -t.healthStreak >= hc.unhealthyThreshold) t.healthy = false;
      }
    };
    const sink: ResponseSink = {
      onHead: (status) => { done(status >= hc.expectStatus[0] && status <= hc.expectStatus[1]); },
      onData: () => true,
      onEnd: () => {},
      onError: (_e: UpstreamError) => done(false),
    };
    t.pool.request({
      method: 'GET', path: hc.path, headers: `${t.hostLine}user-agent: gateway-health-check\r\n`, body: null,
      idempotent: true, connectTimeoutMs: hc.timeoutMs, timeoutMs: hc.timeoutMs,
    }, sink);
  }

  close(): void {
    this.stopped = true;
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    for (const t of this.targets) t.pool.close();
  }
}
