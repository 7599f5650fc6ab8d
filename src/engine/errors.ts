/** An error a worker reported for one job or call, with the worker's string code. */
export class EngineJobError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "EngineJobError";
  }
}
