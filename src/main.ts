/**
 * The one wiring file: builds every subsystem from the config, starts them, and stops them in
 * reverse order.
 */
import type { Config } from "./config/index.js";

/** Runs the server until SIGTERM/SIGINT; resolves to the exit code. */
export async function runServer(_config: Readonly<Config>): Promise<number> {
  throw new Error("the server is not wired yet");
}
