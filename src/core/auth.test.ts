import { expect, test } from "bun:test";
import { isLoopback, newNonce, proofFor, verifyProof } from "./auth.ts";

test("a proof verifies only with the same token and nonce", () => {
  const nonce = newNonce();
  expect(nonce).toMatch(/^[0-9a-f]{32}$/);
  const proof = proofFor("s3cret", nonce);
  expect(verifyProof("s3cret", nonce, proof)).toBe(true);
  expect(verifyProof("other", nonce, proof)).toBe(false);
  expect(verifyProof("s3cret", newNonce(), proof)).toBe(false);
  expect(verifyProof("s3cret", nonce, undefined)).toBe(false);
  expect(verifyProof("s3cret", nonce, "zz")).toBe(false);
});

test("loopback addresses", () => {
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "localhost"]) expect(isLoopback(h)).toBe(true);
  for (const h of ["0.0.0.0", "10.0.0.5", "::", "example.com"]) expect(isLoopback(h)).toBe(false);
});
