#!/usr/bin/env node
// Writes docs/config.md from the compiled config schema (run `npm run build` first).
import { writeFileSync } from "node:fs";
import { renderConfigDocs } from "../dist/src/config/index.js";

writeFileSync(new URL("../docs/config.md", import.meta.url), renderConfigDocs());
console.log("wrote docs/config.md");
