import { parseRedisUrl, connectRedis } from "../roles/redis/connect.ts";
import { formatStatus, readStatus } from "../roles/registry/status.ts";
import { defineTempestCommand } from "./_command.ts";

export default defineTempestCommand({
  meta: { name: "status", description: "Services and per-topology stats, read from Redis" },
  args: {
    redis: { type: "string", description: "Redis URL (default $TEMPEST_REDIS_URL or redis://127.0.0.1:6379/0)", valueHint: "URL" },
    json: { type: "boolean", description: "print machine-readable JSON" },
  },
  async run({ args }) {
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
