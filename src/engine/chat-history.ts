/**
 * Chat messages (tool calls and tool results included) as node-llama-cpp's chat history, the
 * input of every chat wrapper; both engine backends render prompts from it.
 *
 * Tools follow the chat format when it has a function-call syntax of its own (a specialized
 * wrapper, or a Jinja template whose tool syntax node-llama-cpp recognizes): the functions go to
 * the wrapper, which documents them in its own words, and earlier calls with their results are
 * rendered in the format's syntax. A format without one (the fallback formats, Llama 2 chat)
 * gets Bulwark's grammar route: the functions are described in a system message, and a call is
 * the JSON object `{"name": …, "arguments": …}` that the gateway's grammar enforces.
 */
import type {
  ChatHistoryItem,
  ChatModelFunctions,
  ChatModelResponse,
  ChatWrapper,
} from "node-llama-cpp";
import type { ChatMessage, ToolSpec } from "./types.js";

/** The default function-call prefix of node-llama-cpp's base ChatWrapper: no syntax of its own. */
const GENERIC_CALL_PREFIX = "||call: ";

/**
 * The chat format's own tool-call syntax: the wrapper's name when it has one, else null.
 * A Jinja template counts when node-llama-cpp extracted its function-call syntax.
 */
export function toolCallFormatOf(wrapper: ChatWrapper): string | null {
  if ("usingJinjaFunctionCallTemplate" in wrapper) {
    return wrapper.usingJinjaFunctionCallTemplate ? wrapper.wrapperName : null;
  }
  const prefix = wrapper.settings.functions.call.prefix;
  return prefix === GENERIC_CALL_PREFIX ? null : wrapper.wrapperName;
}

/** Bulwark's system text for the grammar route: what the functions are and how to call one. */
export function grammarRouteToolText(tools: readonly ToolSpec[]): string {
  const lines = [
    "You can call functions. To call one, answer with only a JSON object of the form " +
      '{"name": "<function name>", "arguments": {<arguments>}} and nothing else.',
    "Functions:",
  ];
  for (const tool of tools) {
    const description = tool.description ? `: ${tool.description}` : "";
    lines.push(
      `- ${tool.name}${description}. Parameters (JSON schema): ${JSON.stringify(tool.parameters ?? {})}`,
    );
  }
  return lines.join("\n");
}

/** A call as the grammar route writes it. */
export function grammarRouteCallText(name: string, args: string): string {
  return `{"name": ${JSON.stringify(name)}, "arguments": ${args.trim() || "{}"}}`;
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface ChatContext {
  history: ChatHistoryItem[];
  /** For the wrapper's own function syntax (undefined on the grammar route or without tools). */
  functions?: ChatModelFunctions;
}

/**
 * The chat history for a wrapper, ending with the model's (empty) turn to answer. `native`: the
 * wrapper renders tools and calls in its own syntax; otherwise the grammar route's text is used.
 */
export function chatContextOf(
  messages: readonly ChatMessage[],
  tools: readonly ToolSpec[] | undefined,
  native: boolean,
): ChatContext {
  const history: ChatHistoryItem[] = [];
  const useNative = native && tools !== undefined && tools.length > 0;
  if (tools && tools.length > 0 && !useNative) {
    history.push({ type: "system", text: grammarRouteToolText(tools) });
  }
  const results = new Map<string, string>();
  for (const m of messages) {
    if (m.role === "tool" && m.toolCallId !== undefined) results.set(m.toolCallId, m.content);
  }
  const answered = new Set<string>();
  for (const m of messages) {
    if (m.role === "assistant") {
      const response: ChatModelResponse["response"] = [];
      if (m.content) response.push(m.content);
      for (const call of m.toolCalls ?? []) {
        if (useNative) {
          answered.add(call.id);
          response.push({
            type: "functionCall",
            name: call.name,
            params: parseArguments(call.arguments),
            result: results.get(call.id) ?? "",
          });
        } else {
          response.push(grammarRouteCallText(call.name, call.arguments));
        }
      }
      history.push({ type: "model", response });
    } else if (m.role === "tool") {
      // Rendered with its call by the format's own syntax; as a user turn otherwise.
      if (m.toolCallId !== undefined && answered.has(m.toolCallId)) continue;
      history.push({ type: "user", text: `Function result: ${m.content}` });
    } else if (m.role === "user") {
      history.push({ type: "user", text: m.content });
    } else {
      history.push({ type: "system", text: m.content });
    }
  }
  history.push({ type: "model", response: [] });
  if (!useNative) return { history };
  const functions: Record<string, ChatModelFunctions[string]> = {};
  for (const tool of tools!) {
    functions[tool.name] = {
      ...(tool.description ? { description: tool.description } : {}),
      ...(tool.parameters ? { params: tool.parameters as never } : {}),
    };
  }
  return { history, functions };
}
