/** Shared pieces of the `bulwark models …` commands: option parsers and error mapping. */
import { ModelFormatError } from "../models/index.js";
import { CliError } from "./cli-error.js";

/** An option parser for an integer within bounds. */
export function intOption(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new CliError(`--${name} must be an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

/** Runs a command body; a bad model file becomes one clear line and a non-zero exit. */
export async function modelCommand(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof ModelFormatError) throw new CliError(`${err.code}: ${err.message}`);
    if (err instanceof CliError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e && typeof e.code === "string" && e.code.startsWith("E") && e.path) {
      throw new CliError(`${e.code}: cannot access ${e.path}`);
    }
    throw err;
  }
}
