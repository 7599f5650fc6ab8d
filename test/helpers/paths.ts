/** Where tests find the repository and the shared real models. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/** The repository root: the nearest folder above this file that holds package.json. */
export function repoRoot(): string {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("package.json not found above " + import.meta.dirname);
    dir = parent;
  }
  return dir;
}

/** ../shared/models next to the repository (as in CI), else /work/shared/models. */
export function sharedModelsDir(): string | undefined {
  for (const dir of [resolve(repoRoot(), "..", "shared", "models"), "/work/shared/models"]) {
    if (existsSync(dir)) return dir;
  }
  return undefined;
}

/** Path of stories260K.gguf, or undefined when the fixture is not on this machine. */
export function storiesModel(): string | undefined {
  const dir = sharedModelsDir();
  const file = dir && join(dir, "stories260K.gguf");
  return file && existsSync(file) ? file : undefined;
}

export const STORIES_MISSING =
  "stories260K.gguf not found in ../shared/models (the real test model); this test needs it";

/** The published greedy sample of stories260K for "Once upon a time", 64 tokens. */
export const STORIES_GREEDY_64 =
  ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw " +
  "a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said";
