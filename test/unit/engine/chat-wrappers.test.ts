import { test } from "node:test";
import assert from "node:assert/strict";
import { specializedChatWrapperTypeNames } from "node-llama-cpp";
import { chatWrapperNames } from "../../../src/config/index.js";

test("the config's chat wrapper names are node-llama-cpp's, plus auto", () => {
  assert.deepEqual(
    [...chatWrapperNames].sort(),
    ["auto", ...specializedChatWrapperTypeNames].sort(),
  );
});
