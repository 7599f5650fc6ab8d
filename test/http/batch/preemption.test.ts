import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { buildTestGateway, type TestGateway } from "../../helpers/gateway.js";
import { BATCH_PRIORITY } from "../../../src/scheduler/index.js";
import type { GenerationJob, ServedModel, StreamEvent } from "../../../src/engine/index.js";
import { GREEDY } from "../../helpers/sampling.js";

let g: TestGateway;
before(async () => {
  g = await buildTestGateway({
    log: { level: "debug" },
    models: [{ name: "fake", path: "/m.gguf", slots: 1 }],
  });
});
after(() => g.close());

async function job(model: ServedModel, id: string, maxTokens: number): Promise<GenerationJob> {
  const prompt = await model.prepare({ kind: "text", text: `prompt ${id}`, addSpecial: true });
  return {
    id,
    prompt,
    sampling: GREEDY,
    maxTokens,
    stop: [],
    ignoreEos: false,
  };
}

async function read(stream: AsyncIterable<StreamEvent>, onText?: (n: number) => void) {
  let text = "";
  let tokens = 0;
  let done: Extract<StreamEvent, { type: "done" }> | undefined;
  for await (const e of stream) {
    if (e.type === "text") {
      text += e.text;
      tokens += e.tokens;
      onText?.(tokens);
    } else if (e.type === "done") done = e;
    else if (e.type === "restart") text = "";
  }
  return { text, tokens, done, endedAt: performance.now() };
}

test("an interactive request takes a running batch line's slot at its next token; the line continues where it stopped", async () => {
  const model = g.models.get("fake")!.model;
  // The same line run alone, uninterrupted, for comparison.
  const alone = await read(
    model.generate(await job(model, "alone", 30), { priority: BATCH_PRIORITY }),
  );
  g.engine.controls.tokenDelayMs = 10;
  try {
    let started!: () => void;
    const halfway = new Promise<void>((r) => (started = r));
    const line = read(
      model.generate(await job(model, "line", 30), { priority: BATCH_PRIORITY }),
      (n) => n >= 5 && started(),
    );
    await halfway;
    const interactive = await read(model.generate(await job(model, "live", 3)));
    const batch = await line;
    assert.ok(
      interactive.endedAt < batch.endedAt,
      "the interactive request did not wait for the line",
    );
    assert.equal(batch.text, alone.text, "the line went on from its tokens, as if never stopped");
    assert.equal(batch.done?.finishReason, "length");
    assert.equal(batch.done?.completionTokens, 30);
    assert.equal(interactive.done?.completionTokens, 3);
    const preempted = g.logs.filter(
      (l) => l.msg === "batch line gave its slot to an interactive request",
    );
    assert.equal(preempted.length, 1);
  } finally {
    g.engine.controls.tokenDelayMs = 0;
  }
});
