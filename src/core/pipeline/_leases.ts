/**
 * Leased deliveries by id, for the answer that names one. Private to the pipeline folder.
 *
 * On the hot path of every delivery (a lease, then its answer): a Map of number keys with as
 * many deletes as inserts was the topology's costliest line. Ids are handed out in order and
 * most leases end soon, so a ring indexed by the id's low bits finds almost all of them with
 * one array read; a lease still held when its slot comes round again (65,536 leases later)
 * moves to a Map.
 */
const RING = 1 << 16;
const MASK = RING - 1;

export class LeaseIndex<T extends { readonly id: number }> {
  private readonly ring: Array<T | undefined> = new Array(RING);
  private readonly overflow = new Map<number, T>();

  set(item: T): void {
    const i = item.id & MASK;
    const old = this.ring[i];
    if (old !== undefined) this.overflow.set(old.id, old);
    this.ring[i] = item;
  }

  get(id: number): T | undefined {
    const x = this.ring[id & MASK];
    if (x !== undefined && x.id === id) return x;
    return this.overflow.size === 0 ? undefined : this.overflow.get(id);
  }

  delete(id: number): void {
    const i = id & MASK;
    const x = this.ring[i];
    if (x !== undefined && x.id === id) this.ring[i] = undefined;
    else if (this.overflow.size > 0) this.overflow.delete(id);
  }
}
