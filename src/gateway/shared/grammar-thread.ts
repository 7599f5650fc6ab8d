/**
 * Worker-thread entry that turns a JSON schema into GBNF with node-llama-cpp's converter. It runs
 * in a thread so that a schema that takes too long can be stopped by terminating the thread.
 */
import { parentPort } from "node:worker_threads";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

// The converter is not in node-llama-cpp's exports map; the package is pinned at exactly
// 3.21.1 and this is the file its own LlamaJsonSchemaGrammar imports.
const packageEntry = createRequire(import.meta.url).resolve("node-llama-cpp");
const converterUrl = pathToFileURL(
  join(dirname(packageEntry), "utils", "gbnfJson", "getGbnfGrammarForGbnfJsonSchema.js"),
).href;

type Convert = (schema: unknown) => string;
const { getGbnfGrammarForGbnfJsonSchema } = (await import(converterUrl)) as {
  getGbnfGrammarForGbnfJsonSchema: Convert;
};

parentPort?.on("message", (message: { id: number; schema: unknown }) => {
  try {
    const grammar = getGbnfGrammarForGbnfJsonSchema(message.schema);
    parentPort?.postMessage({ id: message.id, grammar });
  } catch (err) {
    parentPort?.postMessage({ id: message.id, error: (err as Error).message });
  }
});
