/**
 * Renders the site's Redis (Nextcloud's locking and distributed cache) on the site's Redis
 * host: Debian's redis-server, patched with the host's other packages (`packages.update`),
 * its password in the 0640 config file Debian's unit reads (never on a command line), bound
 * to the host's address and loopback, nothing persisted (a cache and file locks: Nextcloud
 * rebuilds both). Within one site only; the firewall admits the site's app hosts. Pure.
 */
import { DeploymentPlan, HostPlan } from "../plan/plan";
import { RenderedHost } from "./rendered";

/** Debian's redis-server.service reads this file. */
export const REDIS_CONFIG = "/etc/redis/redis.conf";

export function renderRedisConfig(plan: DeploymentPlan, host: HostPlan, password: string): string {
    return [
        `# Redis on ${host.name} (site ${host.site}) for the site's Nextcloud nodes; rendered by nextcloud-ha`,
        `bind ${host.address} 127.0.0.1`,
        `port ${plan.ports.redis}`,
        "protected-mode yes",
        `requirepass ${password}`,
        // Nextcloud's cache and locks only: nothing to keep across a restart.
        'save ""',
        "appendonly no",
        "maxmemory 512mb",
        "maxmemory-policy volatile-lru",
        "dir /var/lib/redis",
        "loglevel notice",
        'logfile ""',
        "",
    ].join("\n");
}

export function renderRedis(plan: DeploymentPlan, host: HostPlan, password: string): RenderedHost {
    return {
        files: [{ path: REDIS_CONFIG, content: renderRedisConfig(plan, host, password), mode: "0640", owner: "redis:redis" }],
        services: [
            {
                name: "redis",
                unit: "redis-server.service",
                user: "redis",
                command: ["/usr/bin/redis-server", REDIS_CONFIG, "--daemonize", "no"],
                // A new password or bind: a restart (the cache starts empty; Nextcloud's locks are retried).
                apply: { kind: "restart", healthy: `redis-cli -p ${plan.ports.redis} ping 2>&1 | grep -q -e PONG -e NOAUTH` },
                update: { generation: plan.packages.update, packages: ["redis-server", "redis-tools"], then: { kind: "restart" } },
            },
        ],
        packages: ["redis-server"],
    };
}
