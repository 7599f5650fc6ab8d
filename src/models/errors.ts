/**
 * Errors about model files. Each has a stable code so that the CLI, the registry and the HTTP
 * layer can tell a truncated download from a refused pickle without matching on messages.
 */
export type ModelFormatErrorCode =
  /** The file ends before a structure it declares (a cut download). */
  | "model_truncated"
  /** No known model format starts with these bytes. */
  | "model_unknown_format"
  /** A GGUF version this reader does not accept (v1, big-endian, or newer than v3). */
  | "model_unsupported_version"
  /** PyTorch pickle or zip checkpoint: unpickling runs arbitrary code, so it is refused. */
  | "model_unsafe_pickle"
  /** A header declares a size over the reader's bound (a corrupt or hostile file). */
  | "model_header_too_large"
  /** A tensor's data lies past the end of the file. */
  | "model_tensor_out_of_bounds"
  /** The structure is recognized but inconsistent (bad type, bad shape, bad JSON). */
  | "model_invalid"
  /** Recognized, but not a source this command can use (ONNX, a non-llama architecture). */
  | "model_unsupported";

/** A model file that cannot be read, with a code that says why. */
export class ModelFormatError extends Error {
  constructor(
    readonly code: ModelFormatErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ModelFormatError";
  }
}
