/** The remote backends of one model, as the model's host sees them. */
import type { BackendEntry } from "../../config/index.js";
import type { Logger } from "../../observability/index.js";
import type { EngineReplica } from "../types.js";
import { RemoteBackend, type BackendObserver, type BackendStatus } from "./backend.js";

export interface BackendGroupEvents {
  ready(replica: EngineReplica): void;
  gone(replica: EngineReplica, reason: string): void;
}

/** What a model's host needs of its remote backends. */
export interface RemoteBackends {
  /** Starts the health checks; `events` hears each replica come into and go out of service. */
  start(events: BackendGroupEvents): void;
  status(): BackendStatus[];
  close(deadlineMs: number): Promise<void>;
}

export class BackendGroup implements RemoteBackends {
  private backends: RemoteBackend[] = [];

  constructor(
    private readonly modelName: string,
    private readonly entries: readonly BackendEntry[],
    private readonly contextSize: number,
    private readonly logger: Logger,
    private readonly observer: BackendObserver = {},
  ) {}

  start(events: BackendGroupEvents): void {
    this.backends = this.entries.map(
      (e) =>
        new RemoteBackend(this.modelName, e, this.contextSize, events, this.logger, this.observer),
    );
    for (const b of this.backends) b.start();
  }

  status(): BackendStatus[] {
    return this.backends.map((b) => b.status());
  }

  async close(deadlineMs: number): Promise<void> {
    await Promise.all(this.backends.map((b) => b.close(deadlineMs)));
  }
}
