/**
 * The lockdown gate, after auth on both listeners: while a lockdown is in force every request
 * but the probes is answered 503 `maintenance`, except, with `keepAdmin`, an admin key on the
 * admin listener (to investigate and release).
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BulwarkError } from "../errors/index.js";
import { routePolicy } from "../http/index.js";
import type { IncidentStore } from "./incident-store.js";

export function lockdownHook(store: IncidentStore, listener: "public" | "admin") {
  return async function lockdownGate(request: FastifyRequest): Promise<void> {
    const lockdown = store.current();
    if (!lockdown || routePolicy(request).open) return;
    const admin = request.ctx.key?.role === "admin";
    if (listener === "admin" && admin && lockdown.keepAdmin) return;
    throw new BulwarkError(
      "maintenance",
      "The server is locked down for a security incident; requests are refused until it is released.",
      { retryAfterSeconds: 60 },
    );
  };
}

export function installLockdown(
  app: FastifyInstance,
  store: IncidentStore | undefined,
  listener: "public" | "admin",
): void {
  if (store) app.addHook("onRequest", lockdownHook(store, listener));
}
