/**
 * Renders a Nextcloud app node's host side: the Gluster mount that holds the data
 * directory, Docker to run the pinned Nextcloud image, and the config fragment every node
 * shares (`instanceid`, `passwordsalt` and `secret` identical on every node of every site,
 * the database through HAProxy's read-write port, the site's Redis for locking and the
 * distributed cache, the site's load balancers as trusted proxies). Pure.
 */
import { DeploymentPlan, HostPlan, hostsOf } from "../../plan/plan";
import { renderGlusterMount } from "../gluster/render";
import { mergeRendered, RenderedHost } from "../host/rendered";

export const NEXTCLOUD_CONFIG = "/etc/nextcloud-ha/nextcloud-ha.config.php";

/** Values every Nextcloud node of every site must share; secret. */
export interface NextcloudSecrets {
    instanceId: string;
    passwordSalt: string;
    secret: string;
    databasePassword: string;
    redisPassword: string;
}

export const NEXTCLOUD_DB = { name: "nextcloud", user: "nextcloud" } as const;

function php(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(php).join(", ")}]`;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return `'${String(value).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The site's Redis: on its first app node, reached by address (never localhost). */
export function redisHostOf(plan: DeploymentPlan, site: string): HostPlan {
    const apps = hostsOf(plan, site, "nextcloud");
    if (apps.length === 0) throw new Error(`site ${site} has no Nextcloud app node to run its Redis`);
    return apps[0];
}

/** The config fragment (`*.config.php`, merged by Nextcloud over its config.php). */
export function renderNextcloudConfig(plan: DeploymentPlan, host: HostPlan, s: NextcloudSecrets): string {
    const lb = hostsOf(plan, host.site, "haproxy");
    const proxies = hostsOf(plan, host.site, "nginx").map((h) => h.address);
    if (lb.length === 0) throw new Error(`site ${host.site} has no HAProxy for Nextcloud's database connection`);
    if (!plan.gluster) throw new Error("Nextcloud needs the Gluster volume for its data directory");
    const nc = plan.nextcloud;
    const entries: [string, unknown][] = [
        ["instanceid", s.instanceId],
        ["passwordsalt", s.passwordSalt],
        ["secret", s.secret],
        ["dbtype", "pgsql"],
        ["dbhost", `${lb[0].address}:${plan.ports.haproxyPrimary}`],
        ["dbname", NEXTCLOUD_DB.name],
        ["dbuser", NEXTCLOUD_DB.user],
        ["dbpassword", s.databasePassword],
        ["datadirectory", "/var/www/html/data"],
        ["trusted_domains", nc.trustedDomains],
        ["trusted_proxies", proxies],
        ["overwriteprotocol", "https"],
        ["overwrite.cli.url", `https://${nc.domain}`],
        ["memcache.local", "\\OC\\Memcache\\APCu"],
        ["memcache.distributed", "\\OC\\Memcache\\Redis"],
        ["memcache.locking", "\\OC\\Memcache\\Redis"],
    ];
    const redis = redisHostOf(plan, host.site);
    return [
        "<?php",
        `// Nextcloud node ${host.name} (site ${host.site}); rendered by nextcloud-ha. Identical secrets on every node.`,
        "$CONFIG = [",
        ...entries.map(([k, v]) => `  ${php(k)} => ${php(v)},`),
        `  'redis' => ['host' => ${php(redis.address)}, 'port' => ${plan.ports.redis}, 'password' => ${php(s.redisPassword)}, 'timeout' => 1.5],`,
        "];",
        "",
    ].join("\n");
}

/** The host side of an app node; its containers are placed by the NextcloudTier component. */
export function renderNextcloudNode(plan: DeploymentPlan, host: HostPlan, secrets: NextcloudSecrets): RenderedHost {
    return mergeRendered([
        renderGlusterMount(plan),
        {
            files: [{ path: NEXTCLOUD_CONFIG, content: renderNextcloudConfig(plan, host, secrets), mode: "0640", owner: "root:root" }],
            services: [{ name: "docker", unit: "docker.service", user: "root", command: ["/usr/sbin/dockerd"] }],
            packages: ["docker.io"],
        },
    ]);
}
