/**
 * Tool calls: the request's `tools` and `tool_choice` as a plan for the generation, and the
 * generated text read back as calls.
 *
 * `required` and a named function are constrained by a grammar compiled from the tools' schemas,
 * so the answer is always one call whose arguments parse and match the schema: the JSON object
 * `{"name": …, "arguments": …}`. `auto` on a chat format without a function-call syntax of its own
 * uses the same grammar with one more branch, plain text that does not begin with `{`, so the
 * model answers in words or with a valid call. `auto` on a format with its own syntax generates
 * freely in that syntax; a call is read back only when its JSON parses and its arguments match
 * the schema, and anything else is returned as text, never as a malformed call.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { BulwarkError } from "../../errors/index.js";
import type { Config } from "../../config/index.js";
import type { GrammarSpec, ToolSpec } from "../../engine/index.js";
import type { GrammarCompiler } from "../shared/grammar-compiler.js";
import { checkJsonSchemaBounds, SCHEMA_GRAMMAR_END } from "../shared/response-format.js";

const functionName = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, "a function name has 1 to 64 letters, digits, _ or -");

export const toolSchema = z.strictObject({
  type: z.literal("function"),
  function: z.strictObject({
    name: functionName,
    description: z.string().max(8192).optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

export const toolChoiceSchema = z.union([
  z.enum(["none", "auto", "required"]),
  z.strictObject({
    type: z.literal("function"),
    function: z.strictObject({ name: functionName }),
  }),
]);

export type ToolChoice = z.output<typeof toolChoiceSchema>;

export interface ToolPlan {
  tools: ToolSpec[];
  mode: "auto" | "required" | "named";
  /** The grammar that constrains the answer (undefined: auto in the format's own syntax). */
  grammar?: GrammarSpec;
  /** Hidden stop strings the grammar needs. */
  stop: string[];
  /** Validators of each tool's arguments, for calls read back from free text. */
  validators: Map<string, z.ZodType | null>;
}

export interface ParsedToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A call the grammar route allows: this tool's name and arguments matching its schema. */
function callSchema(tool: ToolSpec): Record<string, unknown> {
  return {
    type: "object",
    properties: {
      name: { const: tool.name },
      arguments: tool.parameters ?? { type: "object", properties: {} },
    },
    required: ["name", "arguments"],
    additionalProperties: false,
  };
}

/** A zod validator of a tool's arguments, or null when its schema cannot be turned into one. */
function validatorFor(tool: ToolSpec): z.ZodType | null {
  try {
    return z.fromJSONSchema((tool.parameters ?? { type: "object" }) as never);
  } catch {
    return null;
  }
}

/**
 * The plan for a request's tools, or undefined when the model may not call any (no tools, or
 * tool_choice "none"). `nativeFormat`: the chat format has its own function-call syntax.
 */
export async function resolveTools(
  tools: z.output<typeof toolSchema>[] | null | undefined,
  choice: ToolChoice | undefined,
  nativeFormat: boolean,
  limits: Config["limits"],
  compiler: GrammarCompiler,
): Promise<ToolPlan | undefined> {
  const list = tools ?? [];
  if (list.length > limits.maxTools) {
    throw new BulwarkError("input_too_large", `At most ${limits.maxTools} tools are allowed.`, {
      param: "tools",
    });
  }
  if (list.length === 0) {
    if (choice !== undefined && choice !== "none" && choice !== "auto") {
      throw new BulwarkError("invalid_request", "tool_choice needs tools.", {
        param: "tool_choice",
      });
    }
    return undefined;
  }
  const names = new Set<string>();
  const specs: ToolSpec[] = list.map((t, i) => {
    if (names.has(t.function.name)) {
      throw new BulwarkError("invalid_request", `Two tools are named '${t.function.name}'.`, {
        param: `tools[${i}].function.name`,
      });
    }
    names.add(t.function.name);
    if (t.function.parameters) {
      checkJsonSchemaBounds(t.function.parameters, limits, `tools[${i}].function.parameters`);
    }
    return {
      name: t.function.name,
      ...(t.function.description ? { description: t.function.description } : {}),
      ...(t.function.parameters ? { parameters: t.function.parameters } : {}),
    };
  });
  if (choice === "none") return undefined;
  const validators = new Map(specs.map((t) => [t.name, validatorFor(t)] as const));
  const plan: ToolPlan = { tools: specs, mode: "auto", stop: [], validators };
  let constrained: ToolSpec[];
  if (choice === undefined || choice === "auto") {
    if (nativeFormat) return plan;
    constrained = specs;
  } else if (choice === "required") {
    plan.mode = "required";
    constrained = specs;
  } else {
    const named = specs.find((t) => t.name === choice.function.name);
    if (!named) {
      throw new BulwarkError(
        "invalid_request",
        `tool_choice names '${choice.function.name}', which is not in tools.`,
        { param: "tool_choice" },
      );
    }
    plan.mode = "named";
    constrained = [named];
  }
  const schema =
    constrained.length === 1 ? callSchema(constrained[0]!) : { oneOf: constrained.map(callSchema) };
  let call: string;
  try {
    call = await compiler.compile(schema);
  } catch (err) {
    if (err instanceof BulwarkError && err.code === "invalid_grammar") {
      throw new BulwarkError(
        "invalid_grammar",
        err.message.replace("as a response format", "for tool calls"),
        { param: "tools" },
      );
    }
    throw err;
  }
  plan.stop = [SCHEMA_GRAMMAR_END];
  plan.grammar = { kind: "gbnf", text: plan.mode === "auto" ? withTextBranch(call) : call };
  return plan;
}

/** The call grammar with a second branch: text that does not begin with `{` (or nothing). */
function withTextBranch(call: string): string {
  const renamed = call.replace(/^root ::=/m, "tool-call ::=");
  return `root ::= tool-call | free-text\nfree-text ::= ([^{] [^\\x00]*)?\n${renamed}`;
}

/** A new call id, as OpenAI's look. */
export function toolCallId(): string {
  return `call_${randomBytes(12).toString("base64url")}`;
}

/** Reads a JSON value at `start` (an object), returning it and where it ends, or undefined. */
function jsonObjectAt(text: string, start: number): { value: unknown; end: number } | undefined {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === "{") depth++;
    else if (c === "}" && --depth === 0) {
      try {
        return { value: JSON.parse(text.slice(start, i + 1)), end: i + 1 };
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Whether `value` passes; a recursive schema on a deeply nested value can overflow the stack. */
function validates(validator: z.ZodType, value: unknown): boolean {
  try {
    return validator.safeParse(value).success;
  } catch {
    return false;
  }
}

/** A call object as the grammar route and the common formats write it, if it is valid. */
function callOf(value: unknown, plan: ToolPlan): ParsedToolCall | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const name = record.name;
  const args = record.arguments ?? record.parameters;
  if (typeof name !== "string" || !plan.validators.has(name)) return undefined;
  if (typeof args !== "object" || args === null || Array.isArray(args)) return undefined;
  const validator = plan.validators.get(name);
  if (validator && !validates(validator, args)) return undefined;
  return { id: toolCallId(), name, arguments: JSON.stringify(args) };
}

/**
 * The calls in a generated answer, or undefined when it is text. On the grammar route the answer
 * is one JSON object; in a format's own syntax every `{"name": …}` object in it is read, and the
 * answer counts as calls only when each of them is a valid call.
 */
export function parseToolCalls(text: string, plan: ToolPlan): ParsedToolCall[] | undefined {
  if (plan.grammar) {
    const trimmed = text.trim();
    if (!trimmed.startsWith("{")) return undefined;
    const found = jsonObjectAt(trimmed, 0);
    const call = found && callOf(found.value, plan);
    return call ? [call] : undefined;
  }
  const calls: ParsedToolCall[] = [];
  const pattern = /\{\s*"name"\s*:/g;
  for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
    const found = jsonObjectAt(text, m.index);
    const call = found && callOf(found.value, plan);
    if (!call) return undefined;
    calls.push(call);
    pattern.lastIndex = found!.end;
  }
  return calls.length > 0 ? calls : undefined;
}
