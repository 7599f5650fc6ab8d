/**
 * The process logger: pino JSON lines on stdout. Secrets never reach it: the redact list covers
 * the places a key or token could sit in a logged object.
 */
import { pino, type Logger as PinoLogger } from "pino";
import { maskValue } from "../privacy/index.js";

export type Logger = PinoLogger;

export interface LoggerOptions {
  level?: string;
  /** Where lines go; stdout by default. Tests pass a stream to read lines back. */
  destination?: NodeJS.WritableStream;
  base?: Record<string, unknown>;
}

const REDACT_PATHS = [
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "apiKey",
  "api_key",
  "key",
  "secret",
  "password",
  "*.authorization",
  "*.apiKey",
  "*.secret",
];

/** Creates the root logger; subsystems take `logger.child({component})`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: options.base ?? { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
      // Personal data (emails, phone numbers, card and ID numbers, IPs, keys) is masked in
      // every logged object, whatever put it there.
      formatters: { level: (label) => ({ level: label }), log: (obj) => maskValue(obj) },
    },
    options.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/** A logger that drops everything, for tests and library use without a server. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
