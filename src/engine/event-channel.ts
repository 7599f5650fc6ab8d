/**
 * A single-consumer async channel, the body of a GenerationStream for any implementation of the
 * engine-client port: the producer pushes events as they arrive from a worker, the consumer
 * reads them with `for await`. `reset` drops what the consumer has not read yet, for a
 * request that restarts on another worker.
 */
export class EventChannel<T> implements AsyncIterable<T> {
  private buffer: T[] = [];
  private waiter: { resolve(r: IteratorResult<T>): void; reject(e: unknown): void } | undefined;
  private finished = false;
  private failure: unknown;

  push(value: T): void {
    if (this.finished) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value, done: false });
    } else {
      this.buffer.push(value);
    }
  }

  /** Drops unread events, then pushes `marker`. */
  reset(marker: T): void {
    this.buffer = [];
    this.push(marker);
  }

  close(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.waiter && this.buffer.length === 0) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  fail(err: unknown): void {
    if (this.finished) return;
    this.failure = err;
    this.finished = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(err);
    }
  }

  get closed(): boolean {
    return this.finished;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const value = this.buffer.shift();
        if (value !== undefined) return Promise.resolve({ value, done: false });
        if (this.finished) {
          if (this.failure !== undefined) {
            const err = this.failure;
            this.failure = undefined;
            return Promise.reject(err);
          }
          return Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        this.finished = true;
        this.buffer = [];
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
