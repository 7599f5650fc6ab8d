/** Gathers the facts for the checks: the store, the home's files, the data key, npm audit. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/index.js";
import { openStores } from "../admin/index.js";
import { loadDataKey } from "../backup/index.js";
import { openRegistry, registryDir } from "../registry/index.js";
import type { ProgressFn } from "../util/sha256-file.js";
import { configFindings, keyFindings, modeFindings, type Finding } from "./checks.js";

export interface DoctorOptions {
  /** Run `npm audit` on the installation (default true). */
  npmAudit: boolean;
  /** The installation's folder (where package.json is), for npm audit. */
  installDir: string;
  /** Recompute the sha256 of every registry model against its manifest (default true). */
  verifyModels?: boolean;
  /** A progress callback per model being hashed (`NAME:VERSION`); a big file takes a while. */
  onModelProgress?: (label: string) => ProgressFn | undefined;
  env?: Record<string, string | undefined>;
}

function modes(home: string) {
  const out: { path: string; mode: number; dir: boolean }[] = [];
  if (!existsSync(home)) return out;
  out.push({ path: home, mode: statSync(home).mode, dir: true });
  for (const name of readdirSync(home)) {
    if (!/\.db(-wal|-shm)?$|\.head$|key/.test(name)) continue;
    const p = join(home, name);
    out.push({ path: p, mode: statSync(p).mode, dir: false });
  }
  return out;
}

function dataKeyFindings(c: Readonly<Config>, env: Record<string, string | undefined>): Finding[] {
  let key;
  try {
    key = loadDataKey(env);
  } catch (err) {
    return [{ severity: "high", check: "encryption", message: (err as Error).message }];
  }
  if (key)
    return [{ severity: "info", check: "encryption", message: `data key ${key.id} present` }];
  return [
    {
      severity: c.backup.encrypt ? "high" : "low",
      check: "encryption",
      message: c.backup.encrypt
        ? "backup.encrypt is on but no data key is set (BULWARK_DATA_KEY_FILE)"
        : "no data key (BULWARK_DATA_KEY_FILE): backups are not encrypted",
    },
  ];
}

function npmAuditFindings(dir: string): Finding[] {
  const r = spawnSync("npm", ["audit", "--json", "--omit=dev"], {
    cwd: dir,
    encoding: "utf8",
    timeout: 30_000,
  });
  let report: { metadata?: { vulnerabilities?: Record<string, number> } } | undefined;
  try {
    report = JSON.parse(r.stdout) as typeof report;
  } catch {
    report = undefined;
  }
  const v = report?.metadata?.vulnerabilities;
  if (!v) {
    return [
      {
        severity: "info",
        check: "npm audit",
        message: "the npm registry did not answer: dependency vulnerabilities were NOT checked",
      },
    ];
  }
  const bad = (v.high ?? 0) + (v.critical ?? 0);
  return [
    {
      severity: bad > 0 ? "high" : (v.moderate ?? 0) > 0 ? "medium" : "info",
      check: "npm audit",
      message: `dependencies: ${v.critical ?? 0} critical, ${v.high ?? 0} high, ${v.moderate ?? 0} moderate, ${v.low ?? 0} low`,
    },
  ];
}

/**
 * Configured model files that are missing, and the registry's checksums: each registry model
 * is hashed in full against its manifest (a swapped or damaged GGUF answers anything), unless
 * the caller skips it, which is said in a finding of its own.
 */
async function modelFindings(config: Readonly<Config>, o: DoctorOptions): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const [i, m] of config.models.entries()) {
    if (m.path !== undefined && !existsSync(m.path) && !m.path.startsWith("registry:"))
      out.push({
        severity: "medium",
        check: "models",
        message: `models[${i}] ${m.name}: ${m.path} is missing`,
      });
  }
  if (o.verifyModels === false) {
    out.push({
      severity: "low",
      check: "models",
      message: "registry model checksums were NOT verified (--no-verify-models)",
    });
    return out;
  }
  // A home without a registry has nothing to verify; opening one would create it.
  if (!existsSync(registryDir(config))) {
    out.push({ severity: "info", check: "models", message: "no model registry to verify" });
    return out;
  }
  const registry = openRegistry(config);
  try {
    const results = await registry.verify(undefined, o.onModelProgress);
    for (const r of results.filter((v) => !v.ok)) {
      out.push({
        severity: "high",
        check: "models",
        message:
          `${r.name}:${r.version}: ${r.problem ?? "checksum mismatch"} (damaged or replaced); ` +
          "restore it (`bulwark models restore`) or import it again",
      });
    }
    const good = results.filter((v) => v.ok).length;
    out.push({
      severity: "info",
      check: "models",
      message:
        results.length === 0
          ? "no registry models to verify"
          : `${good} of ${results.length} registry model(s) match their manifest's sha256`,
    });
  } finally {
    registry.close();
  }
  return out;
}

export async function runDoctor(config: Readonly<Config>, o: DoctorOptions): Promise<Finding[]> {
  const env = o.env ?? process.env;
  const findings: Finding[] = [...configFindings(config)];
  findings.push(...modeFindings(modes(config.home)));
  const stores = openStores(config);
  try {
    findings.push(...keyFindings(stores.keys.list()));
    const chain = stores.audit.verify();
    findings.push(
      chain.ok
        ? {
            severity: "info",
            check: "audit",
            message: `audit chain intact (${chain.entries} entries)`,
          }
        : {
            severity: "high",
            check: "audit",
            message: `audit chain broken at entry ${chain.firstBad?.seq}: ${chain.firstBad?.reason}`,
          },
    );
  } finally {
    stores.db.close();
  }
  findings.push(...dataKeyFindings(config, env));
  findings.push(...(await modelFindings(config, o)));
  if (o.npmAudit) findings.push(...npmAuditFindings(o.installDir));
  return findings;
}
