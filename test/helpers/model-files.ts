/** Crafted model files for tests: tiny valid GGUFs and the bad files every reader must refuse. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeGgufHeader, GgmlType, gv, layoutTensors } from "../../src/models/index.js";

export function tempDir(prefix = "bulwark-models-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A small valid GGUF: one F32 tensor of 32 floats after a header with a few keys. */
export function tinyGguf(): Buffer {
  const metadata = new Map([["general.architecture", gv.str("llama")]]);
  const tensors = layoutTensors([{ name: "t", dims: [32], type: GgmlType.F32 }]);
  const header = encodeGgufHeader(metadata, tensors);
  return Buffer.concat([header, Buffer.alloc(128)]);
}

/** Writes each crafted bad file into dir and returns their paths by kind. */
export function writeBadFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const put = (name: string, data: Buffer) => {
    files[name] = join(dir, name);
    writeFileSync(files[name], data);
  };
  const good = tinyGguf();
  put("truncated.gguf", good.subarray(0, 40));
  put("wrong-magic.gguf", Buffer.concat([Buffer.from("GGUX"), good.subarray(4)]));
  // A pickle as torch.save (protocol 2) writes it: PROTO 2, then a global that would run code.
  put(
    "model.pt",
    Buffer.from("\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.", "latin1"),
  );
  const hugeHeader = Buffer.from(good);
  hugeHeader.writeBigUInt64LE(0xffffffffn, 16); // metadata entry count
  put("oversized-header.gguf", hugeHeader);
  const past = layoutTensors([{ name: "t", dims: [32], type: GgmlType.F32 }]);
  past[0]!.offset = 4096;
  const pastHeader = encodeGgufHeader(new Map([["general.architecture", gv.str("llama")]]), past);
  put("offset-past-end.gguf", Buffer.concat([pastHeader, Buffer.alloc(128)]));
  const st = Buffer.alloc(16);
  st.writeBigUInt64LE(1n << 40n, 0);
  st.write("{}", 8);
  put("oversized-header.safetensors", st);
  put("v1.gguf", Buffer.concat([Buffer.from("GGUF"), Buffer.from([1, 0, 0, 0]), Buffer.alloc(16)]));
  put("random.bin", Buffer.from("just some text, not a model at all\n".repeat(4)));
  return files;
}
