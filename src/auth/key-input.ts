/** Validation of a new key's settings, shared by `bulwark keys create` and the admin API. */
import { z } from "zod";
import { BulwarkError, parseInput } from "../errors/index.js";
import { parseCidr } from "../netfilter/index.js";
import { maskPolicies, type NewKey } from "./key-store.js";
import { roles } from "./roles.js";

const UNITS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30d", "12h", "90m" from now, or an ISO date/time; returns epoch ms. */
export function parseExpiry(value: string, now: number): number {
  const rel = /^(\d+)([mhd])$/.exec(value.trim());
  if (rel) return now + Number(rel[1]) * UNITS[rel[2]!]!;
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new Error(`expected a duration like 30d, 12h, 90m or an ISO date, got "${value}"`);
  return at;
}

const limit = z.number().int().min(0).max(1e12);

/**
 * Control characters (C0, DEL, C1) and Unicode's bidirectional overrides: a key named with ESC
 * sequences rewrote an admin's terminal in `keys list`, and bidi controls can make a name read
 * as another.
 */
// eslint-disable-next-line no-control-regex
export const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/u;

/** A name shown to people: printable characters only. */
const printable = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((v) => !UNPRINTABLE.test(v), "control characters are not allowed");

export const newKeySchema = z.strictObject({
  name: printable(64),
  role: z.enum(roles),
  rpm: limit.optional(),
  tpm: limit.optional(),
  concurrency: limit.optional(),
  dailyBudget: limit.optional(),
  models: z.array(printable(128)).max(256).optional(),
  ips: z
    .array(
      z.string().refine((v) => {
        try {
          parseCidr(v);
          return true;
        } catch {
          return false;
        }
      }, "expected an IP address or CIDR block"),
    )
    .max(256)
    .optional(),
  mask: z.enum(maskPolicies).optional(),
  /** A duration ("30d") or an ISO date. */
  expires: z.string().min(1).optional(),
});

export type NewKeyInput = z.input<typeof newKeySchema>;

/** Validates settings and fills the defaults; throws invalid_request naming the field. */
export function toNewKey(input: unknown, defaults: Partial<NewKey>, now: number): NewKey {
  const v = parseInput(newKeySchema, input);
  let expiresAt: number | null = null;
  if (v.expires !== undefined) {
    try {
      expiresAt = parseExpiry(v.expires, now);
    } catch (err) {
      throw new BulwarkError("invalid_request", `expires: ${(err as Error).message}`, {
        param: "expires",
      });
    }
  }
  return {
    name: v.name,
    role: v.role,
    rpm: v.rpm ?? defaults.rpm ?? 0,
    tpm: v.tpm ?? defaults.tpm ?? 0,
    concurrency: v.concurrency ?? defaults.concurrency ?? 0,
    dailyBudget: v.dailyBudget ?? defaults.dailyBudget ?? 0,
    models: v.models ?? [],
    ips: v.ips ?? [],
    mask: v.mask ?? "none",
    expiresAt,
  };
}
