/**
 * A copy of a message for its second and later consumers in a fused worker (each child sees
 * its own, as across processes). Flat objects and arrays of plain values, the common case, are
 * copied shallowly, which is a deep copy for them and much cheaper; anything else is
 * structuredClone'd.
 */
export function copyMessage(v: unknown): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (typeof v[i] === "object" && v[i] !== null) return structuredClone(v);
    return v.slice();
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return structuredClone(v);
  const out: Record<string, unknown> = proto === null ? Object.create(null) : {};
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    if (typeof x === "object" && x !== null) return structuredClone(v);
    out[k] = x;
  }
  return out;
}
