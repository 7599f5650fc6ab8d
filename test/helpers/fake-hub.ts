/**
 * A local HTTP server imitating the Hugging Face hub's endpoints a pull uses: the tree API
 * (with the LFS sha256 oid) and the resolve endpoint with Range support. Faults on request:
 * cut the connection mid-file, serve a corrupted byte.
 */
import { createServer, type Server } from "node:http";
import { createHash } from "node:crypto";
import type { AddressInfo } from "node:net";

export interface HubFile {
  repo: string;
  path: string;
  data: Buffer;
}

export interface FakeHub {
  url: string;
  /** Cut the next N file responses after this many bytes. */
  cutAfter: { bytes: number; times: number };
  /** Flip this byte in every file response (-1: off). */
  corruptAt: number;
  /** Range headers the file endpoint received. */
  ranges: (string | undefined)[];
  close(): Promise<void>;
}

export async function startFakeHub(files: HubFile[]): Promise<FakeHub> {
  const state = {
    cutAfter: { bytes: 0, times: 0 },
    corruptAt: -1,
    ranges: [] as (string | undefined)[],
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    if (tree) {
      const [, repo, , dir = ""] = tree;
      const entries = files
        .filter((f) => f.repo === repo)
        .filter(
          (f) => (f.path.includes("/") ? f.path.slice(0, f.path.lastIndexOf("/")) : "") === dir,
        )
        .map((f) => ({
          type: "file",
          path: f.path,
          size: f.data.length,
          oid: "0".repeat(40),
          lfs: { oid: createHash("sha256").update(f.data).digest("hex"), size: f.data.length },
        }));
      if (!files.some((f) => f.repo === repo)) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Repository not found" }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(entries));
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(url.pathname);
    const file =
      resolve &&
      files.find((f) => f.repo === resolve[1] && f.path === decodeURIComponent(resolve[2]!));
    if (!file) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("Entry not found");
      return;
    }
    state.ranges.push(req.headers.range);
    let data = file.data;
    if (state.corruptAt >= 0) {
      data = Buffer.from(data);
      data[state.corruptAt] = data[state.corruptAt]! ^ 0xff;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    if (m) start = Number(m[1]);
    if (start >= data.length) {
      res.writeHead(416, { "content-range": `bytes */${data.length}` });
      res.end();
      return;
    }
    const body = data.subarray(start);
    res.writeHead(m ? 206 : 200, {
      "content-type": "application/octet-stream",
      "content-length": body.length,
      ...(m ? { "content-range": `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    if (state.cutAfter.times > 0) {
      state.cutAfter.times--;
      res.write(body.subarray(0, state.cutAfter.bytes), () => {
        setTimeout(() => res.destroy(), 20);
      });
      return;
    }
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  });
}
