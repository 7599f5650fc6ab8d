/**
 * The content digest of each served model, the part of every cache key that makes a promoted,
 * rolled-back or replaced model miss instead of serving answers of the file before it. A
 * registry model's digest is its version's manifest sha256 (known without reading the file); a
 * model served from a plain path is hashed once in the background, and again when the file's
 * size, modification time or inode change. Until a digest is known the model's requests bypass
 * the cache.
 */
import { stat } from "node:fs/promises";
import { sha256File } from "../util/sha256-file.js";

/** The digest of a served model by its client-facing name; undefined: not known (yet). */
export interface ModelDigests {
  digest(model: string): string | undefined;
}

/** Where a served model's bytes come from, read at each lookup (a registry swap changes it). */
export type DigestSource =
  { kind: "registry"; sha256: () => string | undefined } | { kind: "file"; path: string };

interface FileState {
  path: string;
  identity: string;
  digest: string | undefined;
  hashing: boolean;
  checkedAt: number;
  /** The last failure's message, reported once until it changes. */
  error?: string;
}

/** How often a plain file's identity (size, mtime, inode) is checked again, in ms. */
const RECHECK_MS = 5_000;

export class ServedModelDigests implements ModelDigests {
  private readonly files = new Map<string, FileState>();

  constructor(
    private readonly sources: (model: string) => DigestSource | undefined,
    private readonly onError: (model: string, err: Error) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  digest(model: string): string | undefined {
    const source = this.sources(model);
    if (!source) return undefined;
    if (source.kind === "registry") return source.sha256();
    let state = this.files.get(model);
    if (!state || state.path !== source.path) {
      state = {
        path: source.path,
        identity: "",
        digest: undefined,
        hashing: false,
        checkedAt: -Infinity,
      };
      this.files.set(model, state);
    }
    if (this.now() - state.checkedAt >= RECHECK_MS && !state.hashing) {
      state.checkedAt = this.now();
      void this.refresh(model, state);
    }
    return state.digest;
  }

  /** Hashes the file when its identity changed since the last hash. */
  private async refresh(model: string, state: FileState): Promise<void> {
    state.hashing = true;
    try {
      const s = await stat(state.path);
      const identity = `${s.size}:${s.mtimeMs}:${s.ino}`;
      if (identity === state.identity && state.digest) return;
      state.digest = undefined;
      const digest = await sha256File(state.path);
      const after = await stat(state.path);
      // A file that changed while it was read is hashed again at the next check.
      if (`${after.size}:${after.mtimeMs}:${after.ino}` === identity) {
        state.identity = identity;
        state.digest = digest;
      }
    } catch (err) {
      state.digest = undefined;
      if ((err as Error).message !== state.error) this.onError(model, err as Error);
      state.error = (err as Error).message;
    } finally {
      state.hashing = false;
    }
  }

  /** Resolves once every plain file known so far is hashed (start-up, tests). */
  async ready(models: readonly string[]): Promise<void> {
    for (const model of models) {
      this.digest(model);
      const state = this.files.get(model);
      while (state?.hashing) await new Promise((r) => setTimeout(r, 5));
    }
  }
}
