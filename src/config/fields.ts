/**
 * The config schema as a flat list of documented fields, derived from the zod schema through its
 * JSON Schema. Used for env variable names and for docs/config.md.
 */
import { z } from "zod";
import { backendSchema, configSchema, modelEntrySchema } from "./schema.js";

export interface ConfigField {
  path: readonly string[];
  /** Environment variable that sets it; empty for fields only a file or flag can set. */
  env: string;
  type: string;
  description: string;
  default: unknown;
  enum?: readonly unknown[];
  minimum?: number;
  maximum?: number;
}

interface JsonSchemaNode {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
}

function envName(path: readonly string[]): string {
  return (
    "BULWARK_" + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase()).join("_")
  );
}

function walk(node: JsonSchemaNode, path: string[], out: ConfigField[], envAllowed: boolean): void {
  if (node.type === "object" && node.properties) {
    for (const [key, child] of Object.entries(node.properties)) {
      walk(child, [...path, key], out, envAllowed);
    }
    return;
  }
  const scalarArray = node.type === "array" && node.items?.type !== "object";
  const field: ConfigField = {
    path,
    env: envAllowed && (node.type !== "array" || scalarArray) ? envName(path) : "",
    type:
      node.type ??
      (node.enum ? "enum" : node.anyOf ? node.anyOf.map((n) => n.type).join(" or ") : "unknown"),
    description: node.description ?? "",
    default: node.default,
  };
  if (node.enum) field.enum = node.enum;
  if (node.minimum !== undefined && node.minimum > -Number.MAX_SAFE_INTEGER) {
    field.minimum = node.minimum;
  }
  if (node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER) {
    field.maximum = node.maximum;
  }
  out.push(field);
}

let cached: ConfigField[] | undefined;

/** Every leaf field of the config, in schema order. */
export function listConfigFields(): readonly ConfigField[] {
  if (!cached) {
    const out: ConfigField[] = [];
    walk(z.toJSONSchema(configSchema, { io: "input" }) as JsonSchemaNode, [], out, true);
    cached = out;
  }
  return cached;
}

/** The fields of one entry of `models`, then those of one of its `backends`. */
export function listModelEntryFields(): readonly ConfigField[] {
  const out: ConfigField[] = [];
  walk(z.toJSONSchema(modelEntrySchema, { io: "input" }) as JsonSchemaNode, [], out, false);
  walk(
    z.toJSONSchema(backendSchema, { io: "input" }) as JsonSchemaNode,
    ["backends[]"],
    out,
    false,
  );
  return out;
}
