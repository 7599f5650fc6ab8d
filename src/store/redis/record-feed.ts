/**
 * The change feed of records that each instance keeps in its own SQLite but a fleet must agree
 * on (API keys, bans). A change made on one instance is written to a Redis hash (the latest
 * record by id), its kind's version is bumped, and it is published; every other instance
 * applies it on the message at once, and rereads the hash when the version moved at each
 * backstop tick (state.syncIntervalMs), in case a message was lost. A change that could not be
 * sent while Redis was down is sent when it returns. The latest change wins, by the time it
 * was made.
 */
import type { Redis } from "ioredis";
import type { RedisConnection } from "./connection.js";

export type RecordKind = "key" | "ban";
const KINDS: readonly RecordKind[] = ["key", "ban"];

interface Envelope {
  kind: RecordKind;
  id: string;
  /** When the change was made, ms (the later one wins). */
  rev: number;
  origin: string;
  data: unknown;
  /** After this time (ms) the record may be dropped from Redis: it no longer changes anything. */
  dropAfter?: number;
}

export interface RecordFeedOptions {
  /** This instance's id: its own changes are not applied twice. */
  instance: string;
  syncIntervalMs: number;
  /** Applies a change made on another instance. */
  apply(kind: RecordKind, id: string, data: unknown): void;
  onError?(err: unknown): void;
  now?: () => number;
}

export class RecordFeed {
  private subscriber: Redis | undefined;
  private readonly channel: string;
  private readonly sending = new Set<Promise<void>>();
  /** Rev of the latest change applied or made here, by kind:id. */
  private readonly revs = new Map<string, number>();
  /** Changes made here not yet written to Redis. */
  private readonly unsent = new Map<string, Envelope>();
  private readonly versions = new Map<RecordKind, string | null>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: RecordFeedOptions,
  ) {
    this.channel = redis.key("changes");
  }

  /** Subscribes and starts the backstop; resolves once subscribed (or the subscription failed). */
  start(): Promise<void> {
    // A subscriber needs its own connection; it queues its SUBSCRIBE until connected and
    // subscribes again after each reconnect.
    const subscriber = this.redis.client.duplicate({
      enableOfflineQueue: true,
      commandTimeout: undefined,
    });
    this.subscriber = subscriber;
    subscriber.on("error", () => undefined);
    subscriber.on("message", (_channel: string, message: string) => this.receive(message));
    const subscribed = subscriber.subscribe(this.channel).then(
      () => undefined,
      (err) => this.options.onError?.(err),
    );
    this.timer = setInterval(() => void this.tick(), this.options.syncIntervalMs);
    this.timer.unref();
    void this.tick();
    return subscribed;
  }

  /** Sends a change made here to every other instance. */
  put(kind: RecordKind, id: string, data: unknown, dropAfter?: number): void {
    const rev = this.nextRev(kind, id);
    const env: Envelope = { kind, id, rev, origin: this.options.instance, data, dropAfter };
    this.unsent.set(`${kind}:${id}`, env);
    const sent = this.send(env);
    this.sending.add(sent);
    void sent.finally(() => this.sending.delete(sent));
  }

  /** Waits for the changes being sent; true when none is left unsent (Redis took them all). */
  async flush(): Promise<boolean> {
    await Promise.all([...this.sending]);
    return this.unsent.size === 0;
  }

  private nextRev(kind: RecordKind, id: string): number {
    const key = `${kind}:${id}`;
    const rev = Math.max((this.options.now ?? Date.now)(), (this.revs.get(key) ?? 0) + 1);
    this.revs.set(key, rev);
    return rev;
  }

  private async send(env: Envelope): Promise<void> {
    const json = JSON.stringify(env);
    try {
      await this.redis.run((c) =>
        c
          .multi()
          .hset(this.redis.key(`records:${env.kind}`), env.id, json)
          .incr(this.redis.key(`records:${env.kind}:version`))
          .publish(this.channel, json)
          .exec(),
      );
      const key = `${env.kind}:${env.id}`;
      if (this.unsent.get(key) === env) this.unsent.delete(key);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  private receive(message: string): void {
    let env: Envelope;
    try {
      env = JSON.parse(message) as Envelope;
    } catch {
      return;
    }
    this.offer(env);
  }

  /** Applies a change unless it is this instance's own or older than what is here. */
  private offer(env: Envelope): void {
    if (env.origin === this.options.instance || !KINDS.includes(env.kind)) return;
    const key = `${env.kind}:${env.id}`;
    if ((this.revs.get(key) ?? 0) >= env.rev) return;
    this.revs.set(key, env.rev);
    try {
      this.options.apply(env.kind, env.id, env.data);
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /** The backstop: resends what could not be sent, rereads a kind whose version moved. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      for (const env of [...this.unsent.values()]) await this.send(env);
      for (const kind of KINDS) {
        const versionKey = this.redis.key(`records:${kind}:version`);
        const version = await this.redis.run((c) => c.get(versionKey));
        if (this.versions.has(kind) && this.versions.get(kind) === version) continue;
        const all = await this.redis.run((c) => c.hgetall(this.redis.key(`records:${kind}`)));
        const stale: string[] = [];
        const now = (this.options.now ?? Date.now)();
        for (const [id, json] of Object.entries(all)) {
          this.receive(json);
          if (((JSON.parse(json) as Envelope).dropAfter ?? Infinity) < now) stale.push(id);
        }
        // Expired auto-bans would otherwise pile up in the hash that every tick rereads.
        if (stale.length > 0) {
          await this.redis.run((c) => c.hdel(this.redis.key(`records:${kind}`), ...stale));
        }
        this.versions.set(kind, version);
      }
    } catch {
      // Redis is down: the connection's breaker and probe report it; the next tick retries.
    } finally {
      this.ticking = false;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.subscriber?.disconnect();
  }
}
