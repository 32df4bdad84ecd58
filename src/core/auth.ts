import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** DESIGN.md §11: a peer proves it knows TEMPEST_TOKEN without sending it. */
export function newNonce(): string {
  return randomBytes(16).toString("hex");
}

export function proofFor(token: string, nonce: string): string {
  return createHmac("sha256", token).update(nonce).digest("hex");
}

export function verifyProof(token: string, nonce: string, proof: unknown): boolean {
  if (typeof proof !== "string") return false;
  const expected = Buffer.from(proofFor(token, nonce), "hex");
  const given = Buffer.from(proof, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Listening beyond loopback without a token would hand messages to anyone who connects. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
