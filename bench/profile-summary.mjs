#!/usr/bin/env node
// Where the time goes in a V8 CPU profile (node --cpu-prof): self time per function, and the
// share of each source area (the gateway's modules, Fastify, pino, zod, Node's own internals).
//   node bench/profile-summary.mjs FILE.cpuprofile [--top 25]
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "25" } },
});
const profile = JSON.parse(readFileSync(positionals[0], "utf8"));
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map();
// timeDeltas[i] is the time before samples[i], in µs.
profile.samples.forEach((id, i) =>
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)),
);
const total = [...self.values()].reduce((a, b) => a + b, 0);

function area(url) {
  if (!url) return "(native code, GC)";
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.startsWith("node:")) return "node internals";
  const d = /dist\/src\/([^/]+)/.exec(url);
  return d ? `bulwark src/${d[1]}` : url.split("/").slice(-2).join("/");
}
const fns = new Map();
const areas = new Map();
for (const [id, us] of self) {
  const { callFrame: f } = byId.get(id);
  const key =
    `${f.functionName || "(anonymous)"} ${f.url ? `${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}` : ""}`.trim();
  fns.set(key, (fns.get(key) ?? 0) + us);
  const a = f.functionName === "(idle)" ? "(idle)" : area(f.url);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
// Shares of the busy time: idle is where the event loop waited for the next request.
const idle = areas.get("(idle)") ?? 0;
areas.delete("(idle)");
fns.delete("(idle)");
const busy = total - idle;
const pct = (us) => `${((us * 100) / busy).toFixed(1)}%`;
console.log(`profile: ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy\n`);
console.log("| area | share of busy time |\n|---|---|");
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 15))
  console.log(`| ${a} | ${pct(us)} |`);
console.log("\n| function | share of busy time |\n|---|---|");
for (const [k, us] of [...fns].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) {
  console.log(`| \`${k.trim()}\` | ${pct(us)} |`);
}
