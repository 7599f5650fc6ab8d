/** Model references: `name`, `name:latest` (the alias) and `name:version`. */

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** The alias a bare name means. */
export const LATEST = "latest";

export interface ModelRef {
  name: string;
  /** A version, or the alias `latest`. */
  tag: string;
}

/** A name or version with characters outside the allowed set; message says which. */
export class InvalidNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidNameError";
  }
}

/** Throws InvalidNameError unless `value` is a valid name or version. */
export function checkPart(value: string, what: "name" | "version"): string {
  if (!PART.test(value)) {
    throw new InvalidNameError(
      `invalid ${what} "${value}": 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return value;
}

/** Parses `name` or `name:tag`; a bare name means `name:latest`. */
export function parseRef(ref: string): ModelRef {
  const colon = ref.indexOf(":");
  const name = colon === -1 ? ref : ref.slice(0, colon);
  const tag = colon === -1 ? LATEST : ref.slice(colon + 1);
  return { name: checkPart(name, "name"), tag: checkPart(tag, "version") };
}

/** True when `spec` looks like a registry reference rather than a file path. */
export function looksLikeRef(spec: string): boolean {
  if (spec.includes("/") || spec.includes("\\") || /\.gguf$/i.test(spec)) return false;
  try {
    parseRef(spec);
    return true;
  } catch {
    return false;
  }
}

export function formatRef(name: string, version: string): string {
  return `${name}:${version}`;
}
