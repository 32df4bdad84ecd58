export { CodecError, isCodecError, type CodecErrorCode } from "./errors.ts";
export { encodeCbor, decodeCbor, cborJoinMap } from "./cbor.ts";
export { encodeFrame, encodeFrames, FrameDecoder, DEFAULT_MAX_FRAME } from "./frame.ts";
