/**
 * Loads the configuration once: schema defaults ← config file ← BULWARK_* env ← CLI flags.
 * The result is validated, frozen and passed down; nothing else reads the environment.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { configSchema, type BackendEntry, type Config } from "./schema.js";
import { listConfigFields, type ConfigField } from "./fields.js";
import { ConfigError, invalidConfig } from "./config-error.js";
import { checkModelNames, checkState } from "./checks.js";

export { ConfigError };

export interface LoadConfigOptions {
  /** Explicit config file; when absent, BULWARK_CONFIG, then ./bulwark.yaml if it exists. */
  file?: string;
  env?: Record<string, string | undefined>;
  /** Values from CLI flags, already shaped like the config. They win over everything else. */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

type Plain = Record<string, unknown>;

function isPlain(value: unknown): value is Plain {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function deepMerge(base: Plain, top: Plain): Plain {
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(top)) {
    if (value === undefined) continue;
    out[key] = isPlain(value) && isPlain(out[key]) ? deepMerge(out[key] as Plain, value) : value;
  }
  return out;
}

function setPath(target: Plain, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlain(node[key])) node[key] = {};
    node = node[key] as Plain;
  }
  node[path[path.length - 1]!] = value;
}

function coerceEnv(field: ConfigField, raw: string): unknown {
  const text = raw.trim();
  switch (field.type) {
    case "integer":
    case "number": {
      const n = Number(text);
      return text === "" || Number.isNaN(n) ? raw : n;
    }
    case "boolean":
      if (/^(true|1|yes|on)$/i.test(text)) return true;
      if (/^(false|0|no|off)$/i.test(text)) return false;
      return raw;
    case "array":
      return text === "" ? [] : text.split(",").map((s) => s.trim());
    default:
      return raw;
  }
}

function readFile(file: string): Plain {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed == null) return {};
  if (!isPlain(parsed)) throw new ConfigError(`config file ${file} must hold a mapping`);
  const models = parsed.models;
  if (Array.isArray(models)) {
    // Model paths in a file are relative to the file, not to the shell's directory.
    const base = dirname(resolve(file));
    parsed.models = models.map((m: unknown) =>
      isPlain(m) && typeof m.path === "string" && !isAbsolute(m.path) && !isRegistryRef(m.path)
        ? { ...m, path: resolve(base, m.path) }
        : m,
    );
  }
  return parsed;
}

/** `registry:NAME[:VERSION]` names a registry model, not a file: it is not a path to resolve. */
function isRegistryRef(path: string): boolean {
  return path.startsWith("registry:");
}

function expandHome(path: string, env: Record<string, string | undefined>): string {
  if (path === "~" || path.startsWith("~/")) {
    return resolve(env.HOME ?? homedir(), path.slice(2));
  }
  return resolve(path);
}

/** `${VAR}` in a backend's apiKey: the environment variable's value, never written back out. */
function substituteEnv(
  value: string,
  field: string,
  env: Record<string, string | undefined>,
): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const found = env[name];
    if (found === undefined || found === "") {
      throw invalidConfig([`${field}: environment variable ${name} is not set`]);
    }
    return found;
  });
}

/** Backends: keys from the environment, TLS file paths expanded, names given and unique. */
function resolveBackends(
  backends: BackendEntry[],
  field: string,
  env: Record<string, string | undefined>,
): BackendEntry[] {
  const names = new Set<string>();
  return backends.map((b, i) => {
    const name = b.name ?? new URL(b.url).host;
    if (names.has(name)) {
      throw invalidConfig([`${field}[${i}].name: duplicate backend name "${name}"`]);
    }
    names.add(name);
    const file = (p: string | undefined) => (p === undefined ? undefined : expandHome(p, env));
    return {
      ...b,
      name,
      url: b.url.replace(/\/+$/, ""),
      apiKey:
        b.apiKey === undefined ? undefined : substituteEnv(b.apiKey, `${field}[${i}].apiKey`, env),
      ca: file(b.ca),
      cert: file(b.cert),
      key: file(b.key),
    };
  });
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Loads, merges, validates and freezes the configuration. Throws ConfigError naming each bad field. */
export function loadConfig(options: LoadConfigOptions = {}): Readonly<Config> {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const origins = new Map<string, string>();

  let merged: Plain = {};
  const file =
    options.file ??
    env.BULWARK_CONFIG ??
    (existsSync(resolve(cwd, "bulwark.yaml")) ? resolve(cwd, "bulwark.yaml") : undefined);
  if (file !== undefined) {
    const fromFile = readFile(resolve(cwd, file));
    merged = deepMerge(merged, fromFile);
  }

  const fromEnv: Plain = {};
  for (const field of listConfigFields()) {
    const raw = env[field.env];
    if (raw === undefined) continue;
    setPath(fromEnv, field.path, coerceEnv(field, raw));
    origins.set(field.path.join("."), `env ${field.env}`);
  }
  merged = deepMerge(merged, fromEnv);
  if (options.overrides) {
    merged = deepMerge(merged, options.overrides);
  }

  const result = configSchema.safeParse(merged);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const path = issue.path.join(".");
      const origin = origins.get(path);
      const where = path === "" ? "config" : path;
      const keys =
        "keys" in issue && Array.isArray(issue.keys) ? ` (${issue.keys.join(", ")})` : "";
      return `${where}${origin ? ` [${origin}]` : ""}: ${issue.message}${keys}`;
    });
    throw invalidConfig(problems);
  }
  const config = result.data;
  config.home = expandHome(config.home, env);
  config.models = config.models.map((m, i) => ({
    ...m,
    path: m.path === undefined || isRegistryRef(m.path) ? m.path : resolve(cwd, m.path),
    ...(m.backends ? { backends: resolveBackends(m.backends, `models[${i}].backends`, env) } : {}),
  }));
  if (config.engine.llamaServerBinary) {
    config.engine.llamaServerBinary = expandHome(config.engine.llamaServerBinary, env);
  }
  if (config.registry.dir) config.registry.dir = expandHome(config.registry.dir, env);
  for (const f of ["cert", "key", "ca"] as const) {
    if (config.tls[f]) config.tls[f] = expandHome(config.tls[f], env);
  }
  if (config.registry.backupDir) {
    config.registry.backupDir = expandHome(config.registry.backupDir, env);
  }
  checkModelNames(config.models);
  checkState(config.state);
  return deepFreeze(config);
}
