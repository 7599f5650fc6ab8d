/** Several in-process gateways sharing one Redis: one home each, one admin key for all. */
import { generateKey } from "../../src/auth/index.js";
import { call } from "./access.js";
import { fakeEngine, startTestServer, type TestServer } from "./server.js";

export interface Fleet {
  servers: TestServer[];
  adminKey: string;
  engine: ReturnType<typeof fakeEngine>;
  /** Creates a key through the admin API of server `on`; returns the full key and its id. */
  createKey(on: number, body: Record<string, unknown>): Promise<{ key: string; id: string }>;
  close(): Promise<void>;
}

export async function startFleet(
  n: number,
  redisUrl: string,
  overrides: Record<string, unknown> = {},
  engineControls: Parameters<typeof fakeEngine>[0] = {},
): Promise<Fleet> {
  const engine = fakeEngine(engineControls);
  const adminKey = generateKey().full;
  const servers: TestServer[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const state = (overrides.state ?? {}) as Record<string, unknown>;
      servers.push(
        await startTestServer(
          {
            models: [{ name: "fake", path: "/models/fake.gguf" }],
            rateLimits: { ipRpm: 0 },
            ...overrides,
            state: { backend: "redis", redisUrl, ...state },
            instance: { id: `gw${i + 1}` },
          },
          { replicaFactory: engine.factory, auth: true, adminKey },
        ),
      );
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  return {
    servers,
    adminKey,
    engine,
    async createKey(on, body) {
      const res = await call(`${servers[on]!.adminUrl}/admin/keys`, adminKey, "POST", body);
      if (res.status !== 201) throw new Error(`key creation failed: ${res.text}`);
      return { key: res.json.key as string, id: res.json.id as string };
    },
    close: async () => {
      await Promise.all(servers.map((s) => s.close()));
    },
  };
}
