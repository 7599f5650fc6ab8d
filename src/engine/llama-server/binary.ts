/**
 * Where the llama-server binary lives. `bulwark engine build` builds it from the llama.cpp source
 * that node-llama-cpp ships into one directory per llama.cpp release, outside any Bulwark home, so
 * every home and every test on the machine shares one build.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The command that builds the binary, as the docs and error messages name it. */
export const BUILD_COMMAND = "npx bulwark engine build";

/** node-llama-cpp's llama/ directory: the llama.cpp source bundle and its release tag. */
export function llamaSourceDir(): string {
  const entry = fileURLToPath(import.meta.resolve("node-llama-cpp"));
  return join(dirname(entry), "..", "llama");
}

/** The llama.cpp release node-llama-cpp ships (llama/llama.cpp.info.json's tag). */
export function llamaReleaseTag(): string {
  const info = JSON.parse(readFileSync(join(llamaSourceDir(), "llama.cpp.info.json"), "utf8")) as {
    tag?: unknown;
  };
  return typeof info.tag === "string" && /^[\w.-]+$/.test(info.tag) ? info.tag : "unknown";
}

/** Directory of built engines: BULWARK_ENGINES_DIR, or ~/.bulwark/engines. */
export function enginesDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.BULWARK_ENGINES_DIR || join(homedir(), ".bulwark", "engines");
}

/** Where `bulwark engine build` puts llama-server for this llama.cpp release. */
export function defaultLlamaServerPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(enginesDir(env), `llama-server-${llamaReleaseTag()}`, "llama-server");
}

/** The binary the config names, or the default one. */
export function llamaServerPath(setting: string, env: NodeJS.ProcessEnv = process.env): string {
  return setting || defaultLlamaServerPath(env);
}

/** True when the file exists and may be executed. */
export function isExecutable(path: string): boolean {
  if (!existsSync(path)) return false;
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Why the binary cannot be used, naming the setting and the build command; undefined if it can. */
export function missingBinaryMessage(path: string): string | undefined {
  if (isExecutable(path)) return undefined;
  return (
    `engine.llamaServerBinary: no llama-server executable at ${path}; ` +
    `engine.backend "llama-server" needs one: build it once with \`${BUILD_COMMAND}\`, ` +
    "or set engine.llamaServerBinary (env BULWARK_ENGINE_LLAMA_SERVER_BINARY) to a built one"
  );
}
