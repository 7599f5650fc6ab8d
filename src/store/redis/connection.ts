/**
 * The connection to the Redis that a fleet shares, with the failure policy's first half: every
 * command has a timeout, nothing queues while the connection is down (a command fails at once
 * instead of hanging), and a circuit breaker stops trying after consecutive failures. A probe
 * PINGs once per breaker cooldown, so the instance notices Redis come back without traffic.
 */
import { Redis } from "ioredis";
import { CircuitBreaker } from "./circuit-breaker.js";
import { SCRIPT_KEYS, SCRIPTS, type ScriptName } from "./lua.js";

export interface RedisConnectionOptions {
  url: string;
  keyPrefix: string;
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  breakerFailures: number;
  breakerCooldownMs: number;
  /**
   * ioredis's auto-pipelining: commands issued in the same tick go out in one write. Off by
   * default: measured on the limit check (docs/benchmarks.md, bench/cluster.mjs), it saved
   * redis-server 15 % of its CPU a check but cost the gateway 15 % more, and raised the p50
   * 2-5× (each command waits for the next tick); kept as an option for the bench.
   */
  autoPipelining?: boolean;
  /** Told when the backend goes down or comes back. */
  onChange?(up: boolean, reason: string): void;
}

/** Thrown when the circuit is open: the call was not tried. */
export class StateDownError extends Error {
  constructor(readonly retryInMs: number) {
    super("the shared state backend is unavailable");
  }
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/** Background work's way to Redis (usage sync, reseal): see RedisConnection.background(). */
export interface BackgroundRedis {
  run<T>(fn: (client: Redis) => Promise<T>): Promise<T>;
  key(name: string): string;
  up(): boolean;
}

/** A background command may wait this long (it holds no request). */
const BACKGROUND_TIMEOUT_MS = 5_000;

export class RedisConnection {
  readonly client: Redis;
  readonly prefix: string;
  private readonly breaker: CircuitBreaker;
  private readonly probe: NodeJS.Timeout;
  private wasUp = false;
  private closed = false;
  private bg: Redis | undefined;

  constructor(private readonly options: RedisConnectionOptions) {
    this.prefix = options.keyPrefix;
    this.breaker = new CircuitBreaker({
      failures: options.breakerFailures,
      cooldownMs: options.breakerCooldownMs,
    });
    this.client = new Redis(options.url, redisClientOptions(options));
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      this.client.defineCommand(name, { numberOfKeys: SCRIPT_KEYS[name as ScriptName], lua });
    }
    this.client.on("error", () => undefined); // reported through the breaker and the probe
    this.client.on("ready", () => this.report());
    this.client.on("close", () => this.report("connection closed"));
    this.probe = setInterval(() => void this.ping(), options.breakerCooldownMs);
    this.probe.unref();
  }

  /** Whether calls reach Redis now: connected and the circuit closed. */
  up(): boolean {
    return this.client.status === "ready" && this.breaker.state === "closed";
  }

  /** ms until the next try at Redis. */
  retryInMs(): number {
    return Math.max(this.breaker.retryInMs(), 100);
  }

  /** Runs `fn` unless the circuit is open; its outcome feeds the breaker. */
  async run<T>(fn: (client: Redis) => Promise<T>): Promise<T> {
    if (!this.breaker.allow()) throw new StateDownError(this.breaker.retryInMs());
    try {
      const result = await fn(this.client);
      this.breaker.success();
      this.report();
      return result;
    } catch (err) {
      this.breaker.failure();
      this.report((err as Error).message);
      throw err;
    }
  }

  /** Runs one of the scripts in lua.ts on `keys` (each prefixed here). */
  script(
    name: ScriptName,
    keys: string | string[],
    ...args: (string | number)[]
  ): Promise<unknown> {
    const prefixed = (Array.isArray(keys) ? keys : [keys]).map((k) => this.key(k));
    return this.run((c) =>
      (c as unknown as Record<ScriptName, ScriptCall>)[name](...prefixed, ...args),
    );
  }

  key(name: string): string {
    return this.prefix + name;
  }

  /**
   * A second connection for background work (the usage sync, a reseal), made at first use: its
   * commands may take longer (5 s) and their failures do not count toward the breaker that
   * guards requests, so that a slow batch never turns limits to their failure policy. It is
   * tried only while this connection is up.
   */
  background(): BackgroundRedis {
    return {
      run: async (fn) => {
        if (!this.up()) throw new StateDownError(this.retryInMs());
        if (!this.bg) {
          // It may queue while it connects (at its first use): each command is still bounded
          // by its timeout, and nothing is tried here while the main connection is down.
          this.bg = this.client.duplicate({
            commandTimeout: Math.max(this.options.commandTimeoutMs, BACKGROUND_TIMEOUT_MS),
            enableOfflineQueue: true,
          });
          this.bg.on("error", () => undefined);
        }
        return fn(this.bg);
      },
      key: (name) => this.key(name),
      up: () => this.up(),
    };
  }

  /** Resolves once connected, or after `ms` (a start does not wait on a Redis that is down). */
  async waitConnected(ms: number): Promise<boolean> {
    if (this.client.status === "ready") return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.client.once("ready", () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private async ping(): Promise<void> {
    if (this.closed) return;
    await this.run((c) => c.ping()).catch(() => undefined);
  }

  private report(reason = ""): void {
    const up = this.up();
    if (up === this.wasUp) return;
    this.wasUp = up;
    this.options.onChange?.(up, reason);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.probe);
    this.bg?.disconnect();
    this.client.disconnect();
  }
}

/**
 * No offline queue and no retry of a command: a command while the connection is down fails at
 * once, so that no request waits on Redis longer than the command timeout (pipelined commands
 * too: each has its own timeout). The connection itself is retried every 200 ms to 1 s, for as
 * long as the process runs. Nagle's algorithm is off (ioredis's noDelay, said here so it stays
 * so), and the scripts run by their SHA (defineCommand: EVALSHA, EVAL only after NOSCRIPT).
 */
export function redisClientOptions(options: {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
  autoPipelining?: boolean;
}) {
  return {
    noDelay: true,
    enableAutoPipelining: options.autoPipelining ?? false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (times: number) => Math.min(1_000, 200 * times),
    lazyConnect: false,
  };
}
