/** DESIGN.md §6: what the topology needs from any source. */

export interface SourceMessage {
  /** Stable id of the message at the source (line number, stream entry id, sequence). */
  id: string;
  /** The user's message, CBOR-encoded once here and delivered as is. */
  payload: Uint8Array;
  /** Attempt number of the first delivery in this process (a redelivered entry may start above 1). */
  attempt?: number;
}

/** A message the source could not even decode: dead-lettered at once, never retried. */
export interface SourceReject {
  id: string;
  raw: string;
  error: string;
}

export interface DeadLetter {
  id: string;
  /** The CBOR payload, or the raw text for a message that never decoded. */
  payload: Uint8Array | string;
  error: string;
  /** Every attempt: why it failed, when (ISO 8601), and the user's stack frames when known. */
  attempts: Array<{ attempt: number; error: string; at: string; where?: string }>;
}

export interface SourceHealth {
  ok: boolean;
  detail?: string;
  /** Messages at the source not read yet (a stream group's lag), when the source knows it. */
  lag?: number;
}

export interface Source {
  readonly type: string;
  open(): Promise<void>;
  /** Up to `max` messages; [] when none are available right now. Undecodable input comes back as rejects. */
  poll(max: number): Promise<{ messages: SourceMessage[]; rejects: SourceReject[] }>;
  /** True once a finite source has handed out everything it will ever have. */
  exhausted(): boolean;
  ack(ids: string[]): Promise<void>;
  /** Write a message to the dead-letter destination; the caller acks it afterwards. */
  deadLetter(letter: DeadLetter): Promise<void>;
  close(): Promise<void>;
  health(): SourceHealth;
}
