/** A server with auth on, its first admin key, and helpers to make keys through the admin API. */
import { generateKey } from "../../src/auth/index.js";
import { fakeEngine, readResponse, startTestServer, type TestServer } from "./server.js";

export const MODEL = "fake";

export interface SecureServer {
  server: TestServer;
  adminKey: string;
  engine: ReturnType<typeof fakeEngine>;
  /** Creates a key through POST /admin/keys; returns the full key and its id. */
  createKey(body: Record<string, unknown>): Promise<{ key: string; id: string }>;
  close(): Promise<void>;
}

export async function startSecureServer(
  overrides: Record<string, unknown> = {},
  engineControls: Parameters<typeof fakeEngine>[0] = {},
): Promise<SecureServer> {
  const engine = fakeEngine(engineControls);
  const adminKey = generateKey().full;
  const server = await startTestServer(
    { models: [{ name: MODEL, path: "/models/fake.gguf" }], ...overrides },
    { replicaFactory: engine.factory, auth: true, adminKey },
  );
  const createKey = async (body: Record<string, unknown>) => {
    const res = await call(`${server.adminUrl}/admin/keys`, adminKey, "POST", body);
    if (res.status !== 201) throw new Error(`key creation failed: ${res.text}`);
    return { key: res.json.key as string, id: res.json.id as string };
  };
  return { server, adminKey, engine, createKey, close: () => server.close() };
}

export interface CallResult {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/** One request with an optional key and extra headers. */
export async function call(
  url: string,
  key: string | undefined,
  method = "GET",
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<CallResult> {
  const h: Record<string, string> = { ...headers };
  if (key) h.authorization = `Bearer ${key}`;
  if (body !== undefined) h["content-type"] = "application/json";
  const res = await fetch(url, {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return readResponse(res);
}

export const chatBody = (content = "hi", extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content }],
  max_tokens: 4,
  ...extra,
});
