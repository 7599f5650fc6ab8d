/** The error of a configuration that cannot start, and the one place its message is shaped. */

/** A configuration that failed validation; the message names each bad field and why. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * "invalid configuration:" and one line per problem, each "field: why" (the field as a dotted
 * path, `models[0].path`). Every check of the configuration, in this folder or at start, ends here.
 */
export function invalidConfig(problems: readonly string[]): ConfigError {
  return new ConfigError(`invalid configuration:\n  ${problems.join("\n  ")}`, problems);
}

/** One bad field: `invalidConfig` with the single problem "field: why". */
export function invalidField(field: string, why: string): ConfigError {
  return invalidConfig([`${field}: ${why}`]);
}
