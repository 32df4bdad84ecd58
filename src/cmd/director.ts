import { parseRedisUrl } from "../core/config/redis-url.ts";
import { resolveTempestHome } from "../core/tempest-home.ts";
import { startDirector } from "../roles/director/main.ts";
import { onStopSignal } from "../roles/signals.ts";
import { defineTempestCommand, parseHostPort } from "./_command.ts";

export default defineTempestCommand({
  meta: { name: "director", description: "Role: the control plane — HTTP API, artifact store and scheduler; state in Redis" },
  args: {
    listen: { type: "string", description: "address to serve on (default 127.0.0.1:7700; beyond loopback needs TEMPEST_TOKEN)", valueHint: "HOST:PORT" },
    redis: { type: "string", description: "Redis URL (default $TEMPEST_REDIS_URL or redis://127.0.0.1:6379/0)", valueHint: "URL" },
    home: { type: "string", description: "home folder for the artifact store (default $TEMPEST_HOME, else ~/.tempest)", valueHint: "DIR" },
  },
  async run({ args }) {
    const listen = parseHostPort(args.listen ?? "127.0.0.1:7700", "--listen");
    const redisUrl = args.redis ?? process.env.TEMPEST_REDIS_URL ?? "redis://127.0.0.1:6379/0";
    const redisWhere = args.redis ? "--redis" : process.env.TEMPEST_REDIS_URL ? "TEMPEST_REDIS_URL" : "--redis (default redis://127.0.0.1:6379/0)";
    parseRedisUrl(redisUrl, redisWhere);
    const director = await startDirector({ host: listen.host, port: listen.port, redisUrl, redisWhere, home: resolveTempestHome(args.home, process.env), token: process.env.TEMPEST_TOKEN || undefined });
    // 0 once stopped cleanly; 130 at once on a second signal.
    process.exitCode = await new Promise<number>((resolve) => {
      const { forced } = onStopSignal(() => void director.stop().then(() => resolve(0)));
      void forced.then(resolve);
    });
  },
});
