/** Measures a JSON schema so its size, depth and property count can be bounded before use. */
export interface SchemaMeasure {
  bytes: number;
  depth: number;
  properties: number;
}

/** Depth counts nested objects and arrays; properties counts keys of every `properties` map. */
export function measureJsonSchema(schema: unknown): SchemaMeasure {
  const bytes = Buffer.byteLength(JSON.stringify(schema) ?? "", "utf8");
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
  return { bytes, depth, properties };
}
