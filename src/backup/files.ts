/** File helpers of the backup: the sha256 list, walking a folder, sweeping dead partials. */
import { existsSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { pidAlive } from "../registry/layout.js";
import { PARTIAL_PREFIX } from "./layout.js";

/** This process's partials in progress: live, whatever their pid says. */
const ownInProgress = new Set<string>();

/** Every regular file under `dir`, as paths relative to it, in a stable order. */
export function walkFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const visit = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) visit(full);
      else if (entry.isFile()) out.push(relative(dir, full));
    }
  };
  visit(dir);
  return out;
}

/** A partial backup's name: `.partial-<pid>-<id>`. */
export function partialName(id: string, pid = process.pid): string {
  return `${PARTIAL_PREFIX}${pid}-${id}`;
}

/** The pid of a partial backup folder's name, if it is one. */
export function partialPid(name: string): number | undefined {
  if (!name.startsWith(PARTIAL_PREFIX)) return undefined;
  const pid = Number(name.slice(PARTIAL_PREFIX.length).split("-")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The partial backups in `dir`, with whether the process making each still runs. */
export function partials(dir: string): { name: string; live: boolean }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .map((name) => ({ name, pid: partialPid(name) }))
    .filter((p) => p.pid !== undefined)
    .map((p) => ({
      name: p.name,
      live: ownInProgress.has(p.name) || (p.pid !== process.pid && pidAlive(p.pid!)),
    }));
}

/** Removes the partial backups whose process is gone (a crash or a kill mid-create). */
export function sweepPartials(dir: string): string[] {
  const dead = partials(dir).filter((p) => !p.live);
  for (const p of dead) rmSync(join(dir, p.name), { recursive: true, force: true });
  return dead.map((p) => p.name);
}

/** Marks a partial of this process as in progress (live) or done. */
export function markInProgress(name: string, on: boolean): void {
  if (on) ownInProgress.add(name);
  else ownInProgress.delete(name);
}

export function sizeOf(path: string): number {
  return statSync(path).size;
}

/** Lines of a SHA256SUMS file for `sha256sum -c`. */
export function formatSums(files: { path: string; sha256: string }[]): string {
  return files.map((f) => `${f.sha256}  ${f.path}\n`).join("");
}
