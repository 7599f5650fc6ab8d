/** The demo model on disk: generated on first use under the models folder, reused after. */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { readGgufHeader } from "../gguf/reader.js";
import { GgufMetadata } from "../gguf/file.js";
import { DEMO_MODEL_NAME, DEMO_MODEL_VERSION, writeDemoModel } from "./demo.js";

/** Returns the path of the demo model in dir, writing it when missing, unreadable or outdated. */
export async function ensureDemoModel(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${DEMO_MODEL_NAME}.gguf`);
  try {
    const header = await readGgufHeader(path);
    if (new GgufMetadata(header.metadata).number("bulwark.demo.version") === DEMO_MODEL_VERSION)
      return path;
  } catch {
    // missing or damaged: write it again
  }
  await writeDemoModel(path);
  return path;
}
