/**
 * `models pull`: downloads a GGUF over HTTP into the registry's download folder, resuming with
 * HTTP Range after a dropped connection, checks it against the sha256 the source publishes
 * (for the Hugging Face hub: the LFS oid from its tree API), then imports it.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, statSync, truncateSync, rmSync } from "node:fs";
import { join, basename } from "node:path";
import { BulwarkError } from "../errors/index.js";
import type { Logger } from "../observability/index.js";
import { sha256File, type ProgressFn } from "./hashing.js";
import type { Registry } from "./registry.js";
import type { Manifest } from "./manifest.js";

export interface ResolvedSource {
  url: string;
  /** The published sha256, when the source publishes one. */
  sha256: string | undefined;
  size: number | undefined;
  fileName: string;
  source: string;
}

export interface PullOptions {
  hubUrl: string;
  retries: number;
  idleTimeoutMs: number;
  /** Extra request headers sent to every URL of the pull. */
  headers?: Record<string, string>;
  /**
   * The hub's token (HF_TOKEN), for a private repository: sent as a bearer token only to the
   * hub's own origin and only over https (see `hubAuthHeaders`), never to a pulled URL.
   */
  hubToken?: string;
  logger?: Logger;
  onProgress?: (label: string) => ProgressFn | undefined;
}

/**
 * The Authorization header for a request to `url`: the hub's token when `url` is on the hub's
 * origin and that origin is https, else none (a token sent to any URL, or in clear text, is a
 * token given away). Redirects to another origin drop it too (the Fetch standard's rule).
 */
export function hubAuthHeaders(
  url: string,
  hubUrl: string,
  token: string | undefined,
): Record<string, string> {
  if (!token) return {};
  let target: URL;
  let hub: URL;
  try {
    target = new URL(url);
    hub = new URL(hubUrl);
  } catch {
    return {};
  }
  if (hub.protocol !== "https:" || target.origin !== hub.origin) return {};
  return { authorization: `Bearer ${token}` };
}

function requestHeaders(url: string, opts: PullOptions): Record<string, string> {
  return { ...opts.headers, ...hubAuthHeaders(url, opts.hubUrl, opts.hubToken) };
}

function downloadError(message: string): BulwarkError {
  return new BulwarkError("registry_download_failed", message);
}

/** `hf:OWNER/REPO/PATH.gguf[@REVISION]` → the hub's tree API entry and download URL. */
export async function resolveSource(source: string, opts: PullOptions): Promise<ResolvedSource> {
  if (!source.startsWith("hf:")) {
    let url: URL;
    try {
      url = new URL(source);
    } catch {
      throw new BulwarkError("registry_invalid_name", `"${source}" is neither an URL nor hf:...`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new BulwarkError("registry_invalid_name", `only http and https URLs can be pulled`);
    }
    return {
      url: url.href,
      sha256: undefined,
      size: undefined,
      fileName: basename(url.pathname),
      source,
    };
  }
  const [spec, revision = "main"] = source.slice(3).split("@") as [string, string?];
  const parts = spec.split("/");
  if (parts.length < 3 || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new BulwarkError(
      "registry_invalid_name",
      `"${source}" must look like hf:OWNER/REPO/FILE.gguf`,
    );
  }
  const [owner, repo, ...rest] = parts;
  const filePath = rest.join("/");
  const dir = rest.slice(0, -1).join("/");
  const base = opts.hubUrl.replace(/\/+$/, "");
  const rev = encodeURIComponent(revision);
  const treeUrl = `${base}/api/models/${owner}/${repo}/tree/${rev}${dir ? "/" + dir : ""}`;
  const res = await fetchOrFail(treeUrl, { headers: requestHeaders(treeUrl, opts) });
  if (res.status === 404) {
    throw downloadError(`the hub has no repository ${owner}/${repo} at revision ${revision} (404)`);
  }
  if (!res.ok) throw downloadError(`the hub's file list answered HTTP ${res.status}`);
  const entries = (await res.json()) as { path?: string; size?: number; lfs?: { oid?: string } }[];
  const entry = Array.isArray(entries) ? entries.find((e) => e.path === filePath) : undefined;
  if (!entry) throw downloadError(`${owner}/${repo} has no file ${filePath} (404)`);
  const sha256 = entry.lfs?.oid;
  if (!sha256 || !/^[0-9a-f]{64}$/.test(sha256)) {
    throw downloadError(
      `${filePath} has no LFS sha256 on the hub; pass --sha256 to pull it by URL`,
    );
  }
  return {
    url: `${base}/${owner}/${repo}/resolve/${rev}/${filePath.split("/").map(encodeURIComponent).join("/")}`,
    sha256,
    size: entry.size,
    fileName: basename(filePath),
    source,
  };
}

async function fetchOrFail(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw downloadError(`cannot reach ${new URL(url).host}: ${cause}`);
  }
}

/** Bytes of a file, 0 when absent. */
function sizeOf(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * Downloads `url` into `part`, continuing from what `part` already holds. Retries a dropped or
 * stalled connection with a Range request up to `retries` times.
 */
export async function downloadResumable(
  url: string,
  part: string,
  opts: PullOptions & { expectedSize?: number; label: string },
): Promise<number> {
  const progress = opts.onProgress?.(opts.label);
  let failures = 0;
  for (;;) {
    let have = sizeOf(part);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    // Our own timer, reset on each chunk: a stalled body is cut and resumed.
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(), opts.idleTimeoutMs);
    };
    arm();
    try {
      const headers: Record<string, string> = requestHeaders(url, opts);
      if (have > 0) headers.range = `bytes=${have}-`;
      const res = await fetchOrFail(url, { headers, signal: controller.signal });
      if (res.status === 416 && opts.expectedSize !== undefined && have === opts.expectedSize) {
        return have;
      }
      if (res.status === 404) throw downloadError(`${url} was not found (HTTP 404)`);
      if (res.status >= 400 && res.status < 500) {
        throw downloadError(`${url} answered HTTP ${res.status}`);
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      if (have > 0 && res.status !== 206) {
        // The server ignored the Range header: start over.
        truncateSync(part, 0);
        have = 0;
      }
      const length = Number(res.headers.get("content-length") ?? NaN);
      const total = opts.expectedSize ?? (Number.isFinite(length) ? have + length : 0);
      const out = createWriteStream(part, { flags: have > 0 ? "a" : "w" });
      const closed = new Promise<void>((resolve, reject) => {
        out.once("close", resolve);
        out.once("error", reject);
      });
      let done = have;
      try {
        for await (const chunk of res.body) {
          arm();
          const buf = chunk as Uint8Array;
          if (!out.write(buf)) await new Promise<void>((r) => out.once("drain", () => r()));
          done += buf.length;
          progress?.(done, total || done);
        }
      } finally {
        out.end();
        await closed;
      }
      if (opts.expectedSize !== undefined && done < opts.expectedSize) {
        throw new Error(`connection ended at byte ${done} of ${opts.expectedSize}`);
      }
      return done;
    } catch (err) {
      if (err instanceof BulwarkError) throw err;
      failures++;
      const at = sizeOf(part);
      if (failures > opts.retries) {
        throw downloadError(
          `the download failed ${failures} times; last at byte ${at}: ${(err as Error).message}`,
        );
      }
      opts.logger?.warn({ at, failures }, "download interrupted; resuming with a Range request");
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface PullRequest {
  source: string;
  name?: string;
  version?: string;
  sha256?: string;
  promote?: boolean;
}

/** Name a pulled file gets when none is given: its file name, made a valid registry name. */
export function nameFromFile(fileName: string): string {
  const stem = fileName.replace(/\.gguf$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-");
  return stem.replace(/^[^A-Za-z0-9]+/, "").slice(0, 64) || "model";
}

/** Resolves, downloads (resumable), checks the sha256 (re-downloading on a mismatch), imports. */
export async function pullModel(
  registry: Registry,
  req: PullRequest,
  opts: PullOptions,
): Promise<Manifest> {
  const resolved = await resolveSource(req.source, opts);
  const expected = (req.sha256 ?? resolved.sha256)?.toLowerCase();
  const downloads = join(registry.layout.dir, ".downloads");
  mkdirSync(downloads, { recursive: true });
  const key = createHash("sha256").update(resolved.url).digest("hex").slice(0, 24);
  const part = join(downloads, `${key}.part`);
  let sha256 = "";
  for (let attempt = 0; ; attempt++) {
    await downloadResumable(resolved.url, part, {
      ...opts,
      expectedSize: resolved.size,
      label: resolved.fileName,
    });
    sha256 = await sha256File(part, opts.onProgress?.("sha256"));
    if (!expected || sha256 === expected) break;
    rmSync(part, { force: true });
    if (attempt >= opts.retries) {
      throw new BulwarkError(
        "registry_checksum_mismatch",
        `the download's sha256 is ${sha256}, the source publishes ${expected}; refused after ` +
          `${attempt + 1} downloads`,
      );
    }
    opts.logger?.warn({ attempt: attempt + 1 }, "download checksum mismatch; downloading again");
  }
  if (!expected) {
    opts.logger?.warn({ sha256 }, "the source publishes no sha256; recorded the computed one");
  }
  try {
    return await registry.import(part, {
      name: req.name ?? nameFromFile(resolved.fileName),
      version: req.version,
      source: resolved.source,
      promote: req.promote,
      move: true,
      expectSha256: sha256,
    });
  } finally {
    rmSync(part, { force: true });
  }
}
