#!/usr/bin/env node
// The bulwark command: runs the compiled CLI (npm ci builds it through the prepare script).
import { main } from "../dist/src/cli/index.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`bulwark: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
