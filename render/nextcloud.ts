/**
 * Renders a Nextcloud app node's host side: the Gluster mount that holds the data
 * directory, Docker to run the pinned Nextcloud image, and the config fragment every node
 * shares (`instanceid`, `passwordsalt` and `secret` identical on every node of every site,
 * the database through HAProxy's read-write port, the site's Redis for locking and the
 * distributed cache, the site's load balancers as trusted proxies). Pure.
 */
import { DeploymentPlan, HostPlan, hostsOf } from "../plan/plan";
import { renderGlusterMount } from "./gluster";
import { mergeRendered, RenderedHost } from "./rendered";
import { APP_DATABASE } from "./patroni";

export const NEXTCLOUD_CONFIG = "/etc/nextcloud-ha/nextcloud-ha.config.php";

/** Values every Nextcloud node of every site must share; secret. */
export interface NextcloudSecrets {
    instanceId: string;
    passwordSalt: string;
    secret: string;
    databasePassword: string;
    redisPassword: string;
    /** The first admin's password, used once by the installer node. */
    adminPassword: string;
}


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
        ["dbname", APP_DATABASE.name],
        ["dbuser", APP_DATABASE.role],
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

/** The one app node that installs Nextcloud and runs its background jobs: the primary site's first. */
export function installerOf(plan: DeploymentPlan): HostPlan {
    const first = hostsOf(plan, plan.primarySite, "nextcloud")[0];
    if (!first) throw new Error(`the primary site ${plan.primarySite} has no Nextcloud app node to install from`);
    return first;
}

const HOOKS = "/etc/nextcloud-ha/hooks";
const IN_CONTAINER = { config: "/run/nextcloud-ha/cluster.config.php", data: "/var/www/html/data", html: "/var/www/html" };

/**
 * The entrypoint hook (pre-installation and before-starting): puts the shared config in
 * place, and on every node but the installer writes the minimal config.php of an installed
 * instance, so the node serves the shared database instead of offering a second install.
 */
export function renderHook(installer: boolean): string {
    return [
        "#!/bin/sh",
        "# nextcloud-ha: shared config for every node; never a second installation.",
        "set -eu",
        `cp ${IN_CONTAINER.config} ${IN_CONTAINER.html}/config/zz-nextcloud-ha.config.php`,
        ...(installer
            ? []
            : [
                  `if [ ! -f ${IN_CONTAINER.html}/config/config.php ]; then`,
                  `  version=$(php -r 'require "${IN_CONTAINER.html}/version.php"; echo implode(".", $OC_Version);')`,
                  `  printf "<?php\\n\\$CONFIG = array('installed' => true, 'version' => '%s', 'dbtype' => 'pgsql', 'dbtableprefix' => 'oc_', 'datadirectory' => '${IN_CONTAINER.data}');\\n" "$version" > ${IN_CONTAINER.html}/config/config.php`,
                  "fi",
              ]),
        "",
    ].join("\n");
}

/** A container as the NextcloudTier component creates it; plain data. */
export interface ContainerSpec {
    name: string;
    image: string;
    env: Record<string, string>;
    ports: { internal: number; external: number }[];
    /** Host path (or the named volume `nextcloud-html`) -> container path. */
    mounts: { source: string; target: string; readOnly?: boolean; volume?: boolean }[];
    entrypoint?: string[];
    command?: string[];
    /** Whether the container holds secrets in its environment or command. */
    secret: boolean;
}

export const REDIS_IMAGE = "redis:7.4.2-alpine";

/** The containers of one app node: Nextcloud; Redis on the site's Redis node; cron on the installer. */
export function renderNextcloudContainers(plan: DeploymentPlan, host: HostPlan, s: NextcloudSecrets): ContainerSpec[] {
    const g = plan.gluster!;
    const installer = installerOf(plan).name === host.name;
    const lb = hostsOf(plan, host.site, "haproxy")[0];
    const mounts: ContainerSpec["mounts"] = [
        { source: "nextcloud-html", target: IN_CONTAINER.html, volume: true },
        { source: `${g.mountPoint}/data`, target: IN_CONTAINER.data },
        { source: NEXTCLOUD_CONFIG, target: IN_CONTAINER.config, readOnly: true },
        { source: `${HOOKS}/pre-installation`, target: "/docker-entrypoint-hooks.d/pre-installation", readOnly: true },
        { source: `${HOOKS}/before-starting`, target: "/docker-entrypoint-hooks.d/before-starting", readOnly: true },
    ];
    // NC_* variables beat every config file: the shared values hold from the first process on.
    const env: Record<string, string> = { NC_instanceid: s.instanceId, NC_passwordsalt: s.passwordSalt, NC_secret: s.secret };
    if (installer) {
        Object.assign(env, {
            NEXTCLOUD_ADMIN_USER: "admin",
            NEXTCLOUD_ADMIN_PASSWORD: s.adminPassword,
            NEXTCLOUD_TRUSTED_DOMAINS: plan.nextcloud.trustedDomains.join(" "),
            POSTGRES_HOST: `${lb.address}:${plan.ports.haproxyPrimary}`,
            POSTGRES_DB: APP_DATABASE.name,
            POSTGRES_USER: APP_DATABASE.role,
            POSTGRES_PASSWORD: s.databasePassword,
        });
    }
    // In start order: Redis (the site's, on its first node), Nextcloud, then cron on the installer.
    const specs: ContainerSpec[] = [];
    if (redisHostOf(plan, host.site).name === host.name) {
        specs.push({
            name: "redis",
            image: REDIS_IMAGE,
            env: {},
            ports: [{ internal: plan.ports.redis, external: plan.ports.redis }],
            mounts: [],
            command: ["redis-server", "--requirepass", s.redisPassword, "--save", "", "--appendonly", "no"],
            secret: true,
        });
    }
    specs.push({ name: "nextcloud", image: plan.nextcloud.image, env, ports: [{ internal: plan.ports.http, external: plan.ports.nextcloud }], mounts, secret: true });
    if (installer) specs.push({ name: "nextcloud-cron", image: plan.nextcloud.image, env: {}, ports: [], mounts: mounts.slice(0, 3), entrypoint: ["/cron.sh"], secret: false });
    return specs;
}

/**
 * The remote command run on the installer after its containers start: waits, bounded to ten
 * minutes, until Nextcloud reports itself installed; the other nodes start after it.
 */
export function renderWaitInstalled(plan: DeploymentPlan): string {
    return `for i in $(seq 1 120); do curl -fsS http://127.0.0.1:${plan.ports.nextcloud}/status.php | grep -q '"installed":true' && exit 0; sleep 5; done; echo 'Nextcloud did not report installed within 10 minutes' >&2; exit 1`;
}

/** Which containers a node gets; their shape does not depend on the secrets' values. */
export function containerShapes(plan: DeploymentPlan, host: HostPlan): ContainerSpec[] {
    return renderNextcloudContainers(plan, host, { instanceId: "", passwordSalt: "", secret: "", databasePassword: "", redisPassword: "", adminPassword: "" });
}

/** The host side of an app node; its containers are placed by the NextcloudTier component. */
export function renderNextcloudNode(plan: DeploymentPlan, host: HostPlan, secrets: NextcloudSecrets): RenderedHost {
    const hook = renderHook(installerOf(plan).name === host.name);
    return mergeRendered([
        renderGlusterMount(plan),
        {
            files: [
                // www-data (uid 33 on Debian and in the image) reads it inside the container.
                { path: NEXTCLOUD_CONFIG, content: renderNextcloudConfig(plan, host, secrets), mode: "0640", owner: "www-data:www-data" },
                { path: `${HOOKS}/pre-installation/10-nextcloud-ha.sh`, content: hook, mode: "0755", owner: "root:root" },
                { path: `${HOOKS}/before-starting/10-nextcloud-ha.sh`, content: hook, mode: "0755", owner: "root:root" },
            ],
            services: [{ name: "docker", unit: "docker.service", user: "root", command: ["/usr/sbin/dockerd"] }],
            packages: ["docker.io", "curl"],
        },
    ]);
}
