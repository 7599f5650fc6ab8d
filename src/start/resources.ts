/**
 * The resources a start has opened, closed in the reverse order of their opening: on shutdown,
 * and on a start that fails halfway (only what was opened is closed). Closing is done once; a
 * resource whose close throws is logged and the rest still close.
 */
import type { Logger } from "../observability/index.js";

export interface Resource {
  /** Says what it is in the log when its close fails. */
  name: string;
  close(): void | Promise<void>;
}

export class ResourceStack {
  private readonly stack: Resource[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  /** Adds a resource; it closes before every resource added earlier. */
  push(name: string, close: () => void | Promise<void>): void {
    if (this.closing) throw new Error(`cannot open ${name}: the server is closing`);
    this.stack.push({ name, close });
  }

  /** Closes everything, last opened first; a second call returns the first call's promise. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const r of this.stack.splice(0).reverse()) {
        try {
          await r.close();
        } catch (err) {
          this.logger.error({ resource: r.name, err: (err as Error).message }, "close failed");
        }
      }
    })();
    return this.closing;
  }
}
