/** A webhook receiver on 127.0.0.1 for alert tests: it records every JSON body it gets. */
import { createServer, type Server } from "node:http";

export interface WebhookReceiver {
  url: string;
  events: any[];
  /** Attempts answered 500 on purpose (to exercise retries). */
  failed: number;
  close(): Promise<void>;
}

/** Starts the receiver; the first `failFirst` deliveries get a 500. */
export async function startWebhookReceiver(failFirst = 0): Promise<WebhookReceiver> {
  const receiver = { events: [] as any[], failed: 0 } as WebhookReceiver;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (receiver.failed < failFirst) {
        receiver.failed++;
        res.writeHead(500).end();
        return;
      }
      receiver.events.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("no address");
  receiver.url = `http://127.0.0.1:${address.port}/hook`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}
