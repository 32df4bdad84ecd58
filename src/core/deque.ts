/**
 * A growable ring buffer: O(1) push/pop at both ends (the pipeline's queues, a worker's).
 * Slots are cleared on pop so popped items can be garbage-collected.
 */
export class Deque<T> {
  private buf: Array<T | undefined>;
  private head = 0;
  private mask: number;
  length = 0;

  constructor(initialCapacity = 16) {
    let cap = 4;
    while (cap < initialCapacity) cap <<= 1;
    this.buf = new Array<T | undefined>(cap);
    this.mask = cap - 1;
  }

  pushBack(item: T): void {
    if (this.length === this.buf.length) this.grow();
    this.buf[(this.head + this.length) & this.mask] = item;
    this.length++;
  }

  pushFront(item: T): void {
    if (this.length === this.buf.length) this.grow();
    this.head = (this.head - 1) & this.mask;
    this.buf[this.head] = item;
    this.length++;
  }

  /** The item at position i from the front (0 <= i < length). */
  at(i: number): T {
    return this.buf[(this.head + i) & this.mask] as T;
  }

  /** The first item, or undefined when empty. */
  peekFront(): T | undefined {
    return this.length === 0 ? undefined : this.buf[this.head];
  }

  popFront(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return item;
  }

  /** Empties the deque (keeps its capacity unless it grew large). */
  clear(): void {
    if (this.buf.length > 1024) {
      this.buf = new Array<T | undefined>(16);
      this.mask = 15;
    } else {
      this.buf.fill(undefined);
    }
    this.head = 0;
    this.length = 0;
  }

  /**
   * Keeps only the items for which keep() is true, in order. O(length), in place: a session's
   * lease order of ~1,000 compacted this way no longer shrinks to 16 slots and grows back.
   */
  retain(keep: (item: T) => boolean): void {
    const buf = this.buf;
    let kept = 0;
    for (let i = 0; i < this.length; i++) {
      const item = buf[(this.head + i) & this.mask] as T;
      if (keep(item)) buf[(this.head + kept++) & this.mask] = item;
    }
    for (let i = kept; i < this.length; i++) buf[(this.head + i) & this.mask] = undefined;
    this.length = kept;
  }

  toArray(): T[] {
    const out: T[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.buf[(this.head + i) & this.mask] as T;
    return out;
  }

  private grow(): void {
    const old = this.buf;
    const cap = old.length * 2;
    const next = new Array<T | undefined>(cap);
    for (let i = 0; i < this.length; i++) next[i] = old[(this.head + i) & this.mask];
    this.buf = next;
    this.head = 0;
    this.mask = cap - 1;
  }
}
