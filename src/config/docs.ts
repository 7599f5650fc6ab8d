/** Renders docs/config.md from the schema, so the page can never drift from the code. */
import { listConfigFields, listModelEntryFields, type ConfigField } from "./fields.js";

function formatDefault(value: unknown): string {
  if (value === undefined) return "—";
  return "`" + JSON.stringify(value) + "`";
}

function formatType(field: ConfigField): string {
  if (field.enum) return field.enum.map((v) => `\`${String(v)}\``).join(" \\| ");
  const range =
    field.minimum !== undefined || field.maximum !== undefined
      ? ` (${field.minimum ?? ""}..${field.maximum ?? ""})`
      : "";
  return `${field.type}${range}`;
}

function row(name: string, field: ConfigField): string {
  const env = field.env ? `\`${field.env}\`` : "—";
  const text = field.description.replace(/\|/g, "\\|");
  return `| \`${name}\` | ${env} | ${formatType(field)} | ${formatDefault(field.default)} | ${text} |`;
}

/** The full markdown of docs/config.md. */
export function renderConfigDocs(): string {
  const lines = [
    "# Configuration",
    "",
    "<!-- Generated from src/config/schema.ts by `npm run docs:config`; do not edit by hand. -->",
    "",
    "Bulwark reads its configuration once at start, in this order, each layer overriding the one",
    "before it:",
    "",
    "1. the defaults below;",
    "2. the config file: `--config FILE`, else `$BULWARK_CONFIG`, else `./bulwark.yaml` when it exists;",
    "3. environment variables `BULWARK_*` (the column below; lists are comma-separated);",
    "4. command-line flags (`bulwark serve --help`).",
    "",
    "The merged result is validated against one schema. A bad value stops the start with a message",
    "that names the field, where the value came from, and why it is wrong. The config is then",
    "frozen: nothing changes it while the server runs. Unknown keys are errors, so a typo never",
    "passes silently.",
    "",
    "| field | env | type | default | meaning |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const field of listConfigFields()) lines.push(row(field.path.join("."), field));
  lines.push(
    "",
    "## Model entries",
    "",
    "Each entry of `models` takes these fields; `bulwark serve --model NAME=PATH` adds one entry",
    "(the name defaults to the file name without `.gguf`).",
    "",
    "| field | env | type | default | meaning |",
    "| --- | --- | --- | --- | --- |",
  );
  for (const field of listModelEntryFields()) lines.push(row(field.path.join("."), field));
  lines.push(
    "",
    "## Example",
    "",
    "```yaml",
    "server:",
    "  host: 0.0.0.0",
    "  port: 8080",
    "engine:",
    "  slots: 4",
    "models:",
    "  - name: stories",
    "    path: ./models/stories260K.gguf",
    "    replicas: 2",
    "```",
    "",
  );
  return lines.join("\n");
}
