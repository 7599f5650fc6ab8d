/**
 * `bulwark doctor [--json] [--no-npm-audit] [--no-verify-models]`: the security self-check;
 * exit 1 on a high finding. Hashing the registry's models shows a progress bar per file on
 * stderr (the report stays alone on stdout).
 */
import type { Command } from "commander";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig } from "../config/index.js";
import { runDoctor } from "../doctor/run.js";
import { progressDisplay, type ProgressDisplay } from "../util/progress-display.js";

const ORDER = { high: 0, medium: 1, low: 2, info: 3 } as const;

interface Flags {
  config?: string;
  home?: string;
  json?: boolean;
  npmAudit: boolean;
  verifyModels: boolean;
}

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description(
      "Security self-check: listeners, TLS, auth, admin keys, file modes, data key, audit chain, " +
        "model checksums, weakened defaults and npm audit. Exit 1 on any high finding.",
    )
    .option("-c, --config <file>", "config file (default: $BULWARK_CONFIG, else ./bulwark.yaml)")
    .option("--home <dir>", "Bulwark home directory")
    .option("--json", "print JSON")
    .option("--no-npm-audit", "skip npm audit (it needs the npm registry)")
    .option(
      "--no-verify-models",
      "skip hashing the registry's models against their manifests (it reads every model file)",
    )
    .action(async (flags: Flags) => {
      const config = loadConfig({ file: flags.config, overrides: { home: flags.home } });
      const installDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
      let bar: ProgressDisplay | undefined;
      const findings = (
        await runDoctor(config, {
          npmAudit: flags.npmAudit,
          verifyModels: flags.verifyModels,
          installDir,
          onModelProgress: (label) => {
            bar?.end();
            const display = progressDisplay(`verify ${label}`, "bytes");
            bar = display;
            return (done, total) => display.update(done, total);
          },
        })
      ).sort((a, b) => ORDER[a.severity] - ORDER[b.severity]);
      bar?.end();
      const high = findings.filter((f) => f.severity === "high").length;
      if (flags.json) console.log(JSON.stringify({ ok: high === 0, findings }, null, 2));
      else {
        for (const f of findings)
          console.log(`${f.severity.toUpperCase().padEnd(6)} ${f.check.padEnd(11)} ${f.message}`);
        console.log(high ? `${high} high finding(s)` : "no high finding");
      }
      if (high) process.exitCode = 1;
    });
}
