/**
 * The evidence folder of a lockdown: the logs, the audit log (JSON lines), the bans and keys
 * in force (no secret), and the configuration (with no secret in it), each with its SHA-256 in
 * `SHA256SUMS` (the `sha256sum -c` format), in a folder only the owner can read.
 */
import { createHash } from "node:crypto";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, relative } from "node:path";

export interface EvidenceSources {
  home: string;
  /** The folder of the access logs (rotated ones included). */
  logsDir: string;
  auditLines: string[];
  bans: unknown[];
  keys: unknown[];
  config: unknown;
}

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function files(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const full = join(dir, entry);
    if (statSync(full).isDirectory()) out.push(...files(full));
    else out.push(full);
  }
  return out.sort();
}

/** Writes the evidence into `<home>/incidents/<stamp>/`; returns the folder. */
export function collectEvidence(src: EvidenceSources, startedAt: number): string {
  const stamp = new Date(startedAt).toISOString().replace(/[:.]/g, "-");
  const dir = join(src.home, "incidents", stamp);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(src.logsDir)) {
    mkdirSync(join(dir, "logs"), { mode: 0o700 });
    for (const f of files(src.logsDir)) {
      const to = join(dir, "logs", relative(src.logsDir, f).replace(/\//g, "_"));
      copyFileSync(f, to);
    }
  }
  const write = (name: string, text: string) =>
    writeFileSync(join(dir, name), text, { mode: 0o600 });
  write("audit.jsonl", src.auditLines.map((l) => l + "\n").join(""));
  write("bans.json", JSON.stringify(src.bans, null, 2) + "\n");
  write("keys.json", JSON.stringify(src.keys, null, 2) + "\n");
  write("config.json", JSON.stringify(src.config, null, 2) + "\n");
  const sums = files(dir)
    .map((f) => `${sha256(f)}  ${relative(dir, f)}`)
    .join("\n");
  write("SHA256SUMS", sums + "\n");
  return dir;
}
