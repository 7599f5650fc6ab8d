/**
 * GET /dashboard/events: the live feed as server-sent events, one connection per page. On
 * connect: `history` (the last hour of KPI samples) and the latest `snapshot`; then a
 * `snapshot` each time the feed samples. Open connections are bounded; past the bound the
 * oldest is closed (a page reconnects by itself).
 */
import type { FastifyInstance } from "fastify";
import type { ServerResponse } from "node:http";
import type { DashboardFeed } from "./feed.js";

/** Most live connections at once, all pages together. */
export const MAX_EVENT_STREAMS = 32;

function write(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

export function registerDashboardEvents(app: FastifyInstance, feed: DashboardFeed): void {
  const open = new Set<ServerResponse>();
  app.get("/dashboard/events", { config: { permission: "models.read" } }, (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no",
      "x-request-id": request.id,
    });
    if (open.size >= MAX_EVENT_STREAMS) open.values().next().value?.end();
    open.add(res);
    write(res, "history", feed.kpiHistory());
    write(res, "snapshot", feed.current());
    const unsubscribe = feed.subscribe((snapshot) => write(res, "snapshot", snapshot));
    res.on("close", () => {
      unsubscribe();
      open.delete(res);
    });
  });
}
