/**
 * Each API key's cache settings, in the store's SQLite file beside the keys: its mode (on, off,
 * read-only), the namespace its keys share, and its semantic cache. A key without a row has the
 * defaults: on, its own namespace, no semantic cache. Read at each request, so a change made by
 * the admin API or the CLI holds from the next request on.
 */
import { z } from "zod";
import { migrate, type Db } from "../store/index.js";
import { parseInput } from "../errors/index.js";
import { keyCacheModes, type KeyCacheMode } from "./request-policy.js";

export interface SemanticSettings {
  /** The served embedding model that embeds the last user message. */
  model: string;
  /** Cosine similarity a stored question needs to answer this one, 0..1. */
  threshold: number;
}

export interface KeyCacheSettings {
  mode: KeyCacheMode;
  /** Keys with the same namespace share entries; null: the key's own. */
  namespace: string | null;
  semantic: SemanticSettings | null;
}

export const DEFAULT_KEY_CACHE: KeyCacheSettings = { mode: "on", namespace: null, semantic: null };

/** The body of PUT /admin/keys/:id/cache and the flags of `bulwark cache key`. */
export const keyCacheSchema = z.strictObject({
  mode: z.enum(keyCacheModes).optional(),
  namespace: z
    .string()
    .regex(/^[A-Za-z0-9._:-]{1,64}$/, "letters, digits, '.', '_', ':' and '-', at most 64")
    .nullable()
    .optional(),
  semantic: z
    .strictObject({
      model: z.string().min(1).max(256),
      threshold: z.number().min(0).max(1),
    })
    .nullable()
    .optional(),
});

const MIGRATIONS = [
  {
    name: "001-key-cache",
    up: `CREATE TABLE key_cache (
      key_id TEXT PRIMARY KEY, mode TEXT NOT NULL DEFAULT 'on', namespace TEXT,
      semantic_model TEXT, semantic_threshold REAL)`,
  },
];

interface Row {
  mode: KeyCacheMode;
  namespace: string | null;
  semantic_model: string | null;
  semantic_threshold: number | null;
}

export class KeyCacheStore {
  private readonly byId;

  constructor(private readonly db: Db) {
    migrate(db, "cache", MIGRATIONS);
    this.byId = db.prepare("SELECT * FROM key_cache WHERE key_id = ?");
  }

  get(keyId: string): KeyCacheSettings {
    const row = this.byId.get(keyId) as Row | undefined;
    if (!row) return DEFAULT_KEY_CACHE;
    return {
      mode: row.mode,
      namespace: row.namespace,
      semantic:
        row.semantic_model === null
          ? null
          : { model: row.semantic_model, threshold: row.semantic_threshold ?? 1 },
    };
  }

  /** Applies a validated change (fields left out keep their value); returns the settings. */
  update(keyId: string, input: unknown): KeyCacheSettings {
    const v = parseInput(keyCacheSchema, input);
    const current = this.get(keyId);
    const next: KeyCacheSettings = {
      mode: v.mode ?? current.mode,
      namespace: v.namespace === undefined ? current.namespace : v.namespace,
      semantic: v.semantic === undefined ? current.semantic : v.semantic,
    };
    this.db
      .prepare(
        `INSERT INTO key_cache (key_id, mode, namespace, semantic_model, semantic_threshold)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (key_id) DO UPDATE SET mode = excluded.mode, namespace = excluded.namespace,
           semantic_model = excluded.semantic_model,
           semantic_threshold = excluded.semantic_threshold`,
      )
      .run(
        keyId,
        next.mode,
        next.namespace,
        next.semantic?.model ?? null,
        next.semantic?.threshold ?? null,
      );
    return next;
  }
}
