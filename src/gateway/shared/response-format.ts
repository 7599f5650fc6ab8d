/**
 * response_format: "text", "json_object" (node-llama-cpp's JSON grammar) or "json_schema"
 * (compiled to GBNF under size, depth, property and time bounds).
 */
import { z } from "zod";
import { BulwarkError } from "../../errors/index.js";
import type { Config } from "../../config/index.js";
import type { GrammarSpec } from "../../engine/index.js";
import type { GrammarCompiler } from "./grammar-compiler.js";
import { measureJsonSchema } from "./json-schema-bounds.js";

export const responseFormatSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("text") }),
  z.strictObject({ type: z.literal("json_object") }),
  z.strictObject({
    type: z.literal("json_schema"),
    json_schema: z.strictObject({
      name: z.string().min(1).max(64),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

export type ResponseFormat = z.output<typeof responseFormatSchema>;

export interface ResolvedFormat {
  grammar?: GrammarSpec;
  /** Hidden stop strings the grammar needs. */
  stop: string[];
}

/**
 * node-llama-cpp's schema grammars end the JSON with four newlines, the signal it stops on
 * (LlamaJsonSchemaGrammar's stopGenerationTriggers); Bulwark stops on it the same way.
 */
export const SCHEMA_GRAMMAR_END = "\n\n\n\n";

/** Resolves a response format to a grammar, enforcing the configured bounds first. */
export async function resolveResponseFormat(
  format: ResponseFormat | null | undefined,
  limits: Config["limits"],
  compiler: GrammarCompiler,
): Promise<ResolvedFormat> {
  if (!format || format.type === "text") return { stop: [] };
  if (format.type === "json_object") return { grammar: { kind: "json" }, stop: [] };
  const schema = format.json_schema.schema ?? {};
  checkJsonSchemaBounds(schema, limits, "response_format.json_schema.schema");
  const text = await compiler.compile(schema);
  return { grammar: { kind: "gbnf", text }, stop: [SCHEMA_GRAMMAR_END] };
}

/** Refuses a JSON schema past the configured depth, size or property bounds (400). */
export function checkJsonSchemaBounds(
  schema: unknown,
  limits: Config["limits"],
  param: string,
): void {
  const measure = measureJsonSchema(schema);
  if (measure.depth > limits.maxJsonSchemaDepth) {
    throw new BulwarkError(
      "input_too_large",
      `The JSON schema nests ${measure.depth} levels; at most ${limits.maxJsonSchemaDepth} are allowed.`,
      { param },
    );
  }
  if (measure.bytes > limits.maxJsonSchemaBytes) {
    throw new BulwarkError(
      "input_too_large",
      `The JSON schema is ${measure.bytes} bytes; at most ${limits.maxJsonSchemaBytes} are allowed.`,
      { param },
    );
  }
  if (measure.properties > limits.maxJsonSchemaProperties) {
    throw new BulwarkError(
      "input_too_large",
      `The JSON schema has ${measure.properties} properties; at most ${limits.maxJsonSchemaProperties} are allowed.`,
      { param },
    );
  }
}
