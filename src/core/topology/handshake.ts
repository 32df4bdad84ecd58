/**
 * The handshake rules of a topology (DESIGN.md §4), as a pure function: what a hello must say
 * for the topology to welcome it, and why it refuses one. The service only does the I/O
 * (reads the hello, sends `welcome` or `reject`).
 */
import { verifyProof } from "../auth.ts";
import type { Topology } from "../project/model.ts";
import { type WorkerUnit, unitOf } from "../project/workers.ts";

/** What the topology knows when a hello arrives. */
export interface HandshakeContext {
  topology: Topology;
  version: number;
  /** This process's instance id, new for every start. */
  instance: string;
  /** TEMPEST_TOKEN, when set: the hello must prove it knows the token. */
  token?: string;
  /** The nonce sent to this peer on connect. */
  nonce: string;
  stopping: boolean;
}

/** The fields of any hello the rules read. */
export interface PeerHello { version: number; proof?: unknown }
/** The fields of a task's hello the rules read. */
export interface TaskHelloFacts { topology: string; task: string; tasks?: string[]; topology_instance?: string }

export interface Refusal { code: "version" | "auth" | "topology" | "task" | "instance" | "stopping"; reason: string }

/** Rules for every peer, before its role matters: the protocol version and the token. */
export function refusePeer(hello: PeerHello, ctx: HandshakeContext): Refusal | null {
  if (hello.version !== ctx.version) return { code: "version", reason: `protocol version ${hello.version} is not supported (this topology speaks ${ctx.version})` };
  if (ctx.token && !verifyProof(ctx.token, ctx.nonce, hello.proof)) {
    return { code: "auth", reason: "authentication failed: the hello does not prove knowledge of this topology's TEMPEST_TOKEN" };
  }
  return null;
}

/** Rules for a task worker: the right topology and instance, and the tasks core/project/workers.ts puts in its worker. */
export function acceptTask(hello: TaskHelloFacts, ctx: HandshakeContext): { ok: true; unit: WorkerUnit } | ({ ok: false } & Refusal) {
  const t = ctx.topology;
  const refuse = (code: Refusal["code"], reason: string) => ({ ok: false as const, code, reason });
  if (hello.topology !== t.name) return refuse("topology", `this is topology \`${t.name}\`, not \`${hello.topology}\``);
  const unit = unitOf(t, hello.task);
  if (!unit) return refuse("task", `topology \`${t.name}\` has no task \`${hello.task}\``);
  const hosts = hello.tasks ?? [hello.task];
  if (hosts.length !== unit.tasks.length || !unit.tasks.every((x) => hosts.includes(x))) {
    return refuse("task", `this worker hosts ${hosts.join(", ")}, but topology \`${t.name}\` runs ${unit.tasks.join(", ")} in one worker: start both from the same project and Runtime.toml`);
  }
  if (hello.topology_instance !== undefined && hello.topology_instance !== ctx.instance) {
    return refuse("instance", `this is instance ${ctx.instance} of topology \`${t.name}\`, not ${hello.topology_instance}, the one the task belongs to`);
  }
  if (ctx.stopping) return refuse("stopping", "the topology is stopping");
  return { ok: true, unit };
}
