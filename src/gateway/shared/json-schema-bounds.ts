/** Measures a JSON schema so its size, depth and property count can be bounded before use. */
export interface SchemaMeasure {
  bytes: number;
  depth: number;
  properties: number;
}

/**
 * Deepest schema whose bytes are measured with JSON.stringify, which recurses: a schema nested
 * 5,000 deep overflowed the stack there before its depth was counted. Deeper schemas are
 * refused on their depth, measured without recursion, and report no byte count.
 */
const STRINGIFY_DEPTH = 512;

/** Depth counts nested objects and arrays; properties counts keys of every `properties` map. */
export function measureJsonSchema(schema: unknown): SchemaMeasure {
  let depth = 0;
  let properties = 0;
  const stack: { node: unknown; level: number }[] = [{ node: schema, level: 1 }];
  while (stack.length > 0) {
    const { node, level } = stack.pop()!;
    if (typeof node !== "object" || node === null) continue;
    depth = Math.max(depth, level);
    if (!Array.isArray(node)) {
      const props = (node as Record<string, unknown>).properties;
      if (typeof props === "object" && props !== null && !Array.isArray(props)) {
        properties += Object.keys(props).length;
      }
    }
    for (const child of Object.values(node)) stack.push({ node: child, level: level + 1 });
  }
  const bytes =
    depth <= STRINGIFY_DEPTH ? Buffer.byteLength(JSON.stringify(schema) ?? "", "utf8") : Infinity;
  return { bytes, depth, properties };
}
