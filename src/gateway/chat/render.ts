/** OpenAI's chat.completion and chat.completion.chunk objects, tool calls and logprobs included. */
import type { FinishReason, TokenAlternative, TokenLogprob } from "../../engine/index.js";
import type { ChunkRenderer } from "../shared/respond-generation.js";
import type { CollectedChoice, Usage } from "../shared/generation-service.js";
import { parseToolCalls, type ParsedToolCall, type ToolPlan } from "./tools.js";

const alternative = (a: TokenAlternative) => ({
  token: a.token,
  logprob: a.logprob,
  bytes: a.bytes,
});

/** Chat's `logprobs.content` entries. */
export function chatLogprobs(entries: readonly TokenLogprob[]) {
  return {
    content: entries.map((e) => ({ ...alternative(e), top_logprobs: e.top.map(alternative) })),
    refusal: null,
  };
}

function toolCallsOf(calls: readonly ParsedToolCall[]) {
  return calls.map((c) => ({
    id: c.id,
    type: "function" as const,
    function: { name: c.name, arguments: c.arguments },
  }));
}

interface Options {
  requestId: string;
  model: string;
  /** Log-probabilities were asked for: every choice carries them (null otherwise). */
  logprobs: boolean;
  /** Tools the model may call: answers are held whole and read back as calls. */
  tools?: ToolPlan;
  /** parallel_tool_calls: false keeps the first call only. */
  parallelToolCalls: boolean;
}

export function chatRenderer(options: Options): ChunkRenderer {
  const { requestId, model, tools } = options;
  const id = `chatcmpl-${requestId}`;
  const created = Math.floor(Date.now() / 1000);
  /** With tools, the text and log-probabilities each choice has generated so far. */
  const held = new Map<number, { text: string; logprobs: TokenLogprob[] }>();
  /**
   * Choices known to answer in words: on the grammar route with `auto`, a call begins with `{`
   * and text never does, so the first character decides and text streams from then on.
   */
  const speaking = new Set<number>();
  const decidesEarly = tools?.mode === "auto" && tools.grammar !== undefined;
  const calls = (text: string) => {
    const found = tools && parseToolCalls(text, tools);
    return found && !options.parallelToolCalls ? found.slice(0, 1) : found;
  };
  const chunk = (
    index: number,
    delta: object,
    finishReason: FinishReason | "tool_calls" | null,
    logprobs?: readonly TokenLogprob[],
  ) => ({
    id,
    object: "chat.completion.chunk",
    created,
    model,
    system_fingerprint: null,
    choices: [
      {
        index,
        delta,
        logprobs: options.logprobs && logprobs ? chatLogprobs(logprobs) : null,
        finish_reason: finishReason,
      },
    ],
  });
  const textChunk = (index: number, text: string, first: boolean, logprobs?: TokenLogprob[]) =>
    // The role goes out with the first token, never alone before it.
    chunk(index, first ? { role: "assistant", content: text } : { content: text }, null, logprobs);
  return {
    restart: (index) => {
      held.delete(index);
      speaking.delete(index);
    },
    text: (index, text, first, logprobs) => {
      if (!tools || speaking.has(index)) return textChunk(index, text, first, logprobs);
      const entry = held.get(index) ?? { text: "", logprobs: [] };
      entry.text += text;
      entry.logprobs.push(...(logprobs ?? []));
      held.set(index, entry);
      if (decidesEarly && entry.text.length > 0 && !entry.text.startsWith("{")) {
        speaking.add(index);
        held.delete(index);
        return textChunk(index, entry.text, first, entry.logprobs);
      }
      return null;
    },
    finish: (index, reason, first) => {
      const entry = held.get(index);
      held.delete(index);
      speaking.delete(index);
      const found = entry && calls(entry.text);
      if (found) {
        // As OpenAI streams them: the call's id and name first, then its arguments.
        return [
          chunk(
            index,
            {
              role: "assistant",
              content: null,
              tool_calls: found.map((c, i) => ({
                index: i,
                id: c.id,
                type: "function",
                function: { name: c.name, arguments: "" },
              })),
            },
            null,
          ),
          chunk(
            index,
            {
              tool_calls: found.map((c, i) => ({ index: i, function: { arguments: c.arguments } })),
            },
            null,
          ),
          chunk(index, {}, reason === "length" ? "length" : "tool_calls"),
        ];
      }
      const out: object[] = [];
      if (entry && (entry.text || entry.logprobs.length > 0)) {
        out.push(textChunk(index, entry.text, first, entry.logprobs));
        first = false;
      }
      if (first) out.push(chunk(index, { role: "assistant", content: "" }, null));
      out.push(chunk(index, {}, reason));
      return out;
    },
    usage: (usage: Usage) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      system_fingerprint: null,
      choices: [],
      usage,
    }),
    full: (result) => ({
      id,
      object: "chat.completion",
      created,
      model,
      system_fingerprint: null,
      choices: result.choices.map((choice, index) => fullChoice(choice, index)),
      usage: result.usage,
    }),
  };

  function fullChoice(choice: CollectedChoice, index: number) {
    const logprobs = options.logprobs ? chatLogprobs(choice.logprobs ?? []) : null;
    const found = calls(choice.text);
    if (found) {
      return {
        index,
        message: {
          role: "assistant",
          content: null,
          tool_calls: toolCallsOf(found),
          refusal: null,
        },
        logprobs,
        finish_reason: choice.finishReason === "length" ? "length" : "tool_calls",
      };
    }
    return {
      index,
      message: { role: "assistant", content: choice.text, refusal: null },
      logprobs,
      finish_reason: choice.finishReason,
    };
  }
}
