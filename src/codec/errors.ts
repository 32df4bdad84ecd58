/**
 * Why a frame was refused. Either one closes only the connection it came from (DESIGN.md §4, §11).
 * - E_FRAME_TOO_LARGE: the 4-byte length announced more than max_frame.
 * - E_FRAME_MALFORMED: a zero-length frame, bytes that are not exactly one CBOR item, or a
 *   message whose `type` or fields do not match the protocol.
 */
export type CodecErrorCode = "E_FRAME_TOO_LARGE" | "E_FRAME_MALFORMED";

export class CodecError extends Error {
  override readonly name = "CodecError";
  readonly code: CodecErrorCode;

  constructor(code: CodecErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
  }
}

/** Property check instead of `instanceof`: the error may come from another copy of this module. */
export function isCodecError(e: unknown): e is CodecError {
  return typeof e === "object" && e !== null && (e as { name?: unknown }).name === "CodecError";
}
