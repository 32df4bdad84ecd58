import { DEFAULT_DIRECTOR_URL, directorAnswers } from "../roles/client/director.ts";
import { formatCluster } from "../roles/client/format.ts";
import type { ClusterView } from "../roles/director/views.ts";
import { parseRedisUrl, connectRedis } from "../roles/redis/connect.ts";
import { formatStatus, readStatus } from "../roles/registry/status.ts";
import { defineTempestCommand } from "./_command.ts";
import { directorArgs, directorClient } from "./_director.ts";

export default defineTempestCommand({
  meta: { name: "status", description: "The cluster from the director (agents, topologies, placement, stats), or without one the services registered in Redis" },
  args: {
    redis: { type: "string", description: "read Redis directly, no director: its URL (default $TEMPEST_REDIS_URL or redis://127.0.0.1:6379/0)", valueHint: "URL" },
    json: { type: "boolean", description: "print machine-readable JSON" },
    ...directorArgs,
  },
  async run({ args }) {
    // A director given (flag or TEMPEST_DIRECTOR_URL), or one answering at the default address,
    // and no --redis: the cluster view. Otherwise the services registered in Redis.
    const given = args.director !== undefined || Boolean(process.env.TEMPEST_DIRECTOR_URL);
    if (args.redis === undefined && (given || (await directorAnswers(DEFAULT_DIRECTOR_URL)))) {
      const client = directorClient(args.director);
      const cluster = await client.json<ClusterView>("GET", "/api/v1/cluster");
      console.log(args.json ? JSON.stringify(cluster, null, 2) : formatCluster(cluster, client.url));
      return;
    }
    const uri = args.redis ?? process.env.TEMPEST_REDIS_URL ?? "redis://127.0.0.1:6379/0";
    const where = args.redis ? "--redis" : process.env.TEMPEST_REDIS_URL ? "TEMPEST_REDIS_URL" : "--redis (default redis://127.0.0.1:6379/0)";
    const redis = await connectRedis(uri, { name: "tempest:status", where, log: { warn() {}, info() {} }, startupMs: 3_000 });
    try {
      const status = await readStatus(redis);
      console.log(args.json ? JSON.stringify(status, null, 2) : formatStatus(status, parseRedisUrl(uri, where).shown));
    } finally {
      redis.disconnect();
    }
  },
});
