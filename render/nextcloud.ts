/**
 * Renders a Nextcloud app node's host side: the Gluster mount that holds the data
 * directory, Docker to run the pinned Nextcloud image, and the config fragment every node
 * shares (`instanceid`, `passwordsalt` and `secret` identical on every node of every site,
 * the database through HAProxy's read-write port, the site's Redis for locking and the
 * distributed cache, the site's load balancers as trusted proxies); the site's Redis host also
 * runs Redis (render/redis.ts). Pure.
 */
import { AppPlan, DeploymentPlan, HostPlan, hostByName, hostsOf, siteByName } from "../plan/plan";
import { formatEndpoint } from "../plan/addresses";
import { renderGlusterMount } from "./gluster";
import { ApplyRule, mergeRendered, RenderedHost } from "./rendered";
import { APP_DATABASE, PG_CLIENT_TLS } from "./patroni";
import { bundleSecrets, generateSecrets, NextcloudSecrets } from "./secrets";
import { renderRedis } from "./redis";

export const NEXTCLOUD_CONFIG = "/etc/nextcloud-ha/nextcloud-ha.config.php";
/** The deployment CAs an app host trusts (the database's certificates), on the host; mounted into the containers. */
export const APP_CA_FILE = "/etc/nextcloud-ha/pki/ca.crt";

function php(value: unknown): string {
    if (Array.isArray(value)) return `[${value.map(php).join(", ")}]`;
    if (value && typeof value === "object")
        return `[${Object.entries(value)
            .map(([k, v]) => `${php(k)} => ${php(v)}`)
            .join(", ")}]`;
    if (typeof value === "number" || typeof value === "boolean") return String(value);
    return `'${String(value).replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** The config fragment (`*.config.php`, merged by Nextcloud over its config.php). */
export function renderNextcloudConfig(plan: DeploymentPlan, host: HostPlan, s: NextcloudSecrets): string {
    const site = siteByName(plan, host.site);
    const proxies = hostsOf(plan, { site: host.site, role: "nginx" }).map((h) => h.address);
    if (!site.database || !site.redis) throw new Error(`site ${host.site} has no HAProxy or no app node for Nextcloud's database and Redis`);
    if (!plan.gluster) throw new Error("Nextcloud needs the Gluster volume for its data directory");
    const nc = plan.nextcloud;
    const entries: [string, unknown][] = [
        ["instanceid", s.instanceId],
        ["passwordsalt", s.passwordSalt],
        ["secret", s.secret],
        ["dbtype", "pgsql"],
        ["dbhost", formatEndpoint(site.database.readWrite)],
        ["dbname", APP_DATABASE.name],
        ["dbuser", APP_DATABASE.role],
        ["dbpassword", s.databasePassword],
        // Through HAProxy to the primary: TLS, the member's certificate checked against HAProxy's address (render/host.ts certificateNames).
        ["pgsql_ssl", { mode: PG_CLIENT_TLS.sslmode, rootcert: IN_CONTAINER.ca }],
        ["datadirectory", "/var/www/html/data"],
        ["trusted_domains", nc.trustedDomains],
        ["trusted_proxies", proxies],
        ["overwriteprotocol", "https"],
        ["overwrite.cli.url", `https://${nc.domain}`],
        ["memcache.local", "\\OC\\Memcache\\APCu"],
        ["memcache.distributed", "\\OC\\Memcache\\Redis"],
        ["memcache.locking", "\\OC\\Memcache\\Redis"],
    ];
    const redis = hostByName(plan, site.redis);
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

const HOOKS = "/etc/nextcloud-ha/hooks";
/** The installer's one-time secrets, each in a file of its own (the image's `*_FILE` variables read them as root at install). */
const INSTALL_SECRETS = "/etc/nextcloud-ha/install";
const IN_CONTAINER = {
    config: "/run/nextcloud-ha/cluster.config.php",
    ca: "/run/nextcloud-ha/ca.crt",
    install: "/run/nextcloud-ha/install",
    data: "/var/www/html/data",
    html: "/var/www/html",
};

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

/** The app tier's one-of-a-kind duties; throws when the plan has no app nodes. */
function appOf(plan: DeploymentPlan): AppPlan {
    if (!plan.app) throw new Error("the plan has no Nextcloud app node");
    return plan.app;
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

/** The containers of one app node: Nextcloud; cron on the cron host. */
export function renderNextcloudContainers(plan: DeploymentPlan, host: HostPlan, s: NextcloudSecrets): ContainerSpec[] {
    const g = plan.gluster!;
    const app = appOf(plan);
    const site = siteByName(plan, host.site);
    const installer = app.installer === host.name;
    const mounts: ContainerSpec["mounts"] = [
        { source: "nextcloud-html", target: IN_CONTAINER.html, volume: true },
        { source: `${g.mountPoint}/data`, target: IN_CONTAINER.data },
        { source: NEXTCLOUD_CONFIG, target: IN_CONTAINER.config, readOnly: true },
        { source: APP_CA_FILE, target: IN_CONTAINER.ca, readOnly: true },
        { source: `${HOOKS}/pre-installation`, target: "/docker-entrypoint-hooks.d/pre-installation", readOnly: true },
        { source: `${HOOKS}/before-starting`, target: "/docker-entrypoint-hooks.d/before-starting", readOnly: true },
    ];
    // NC_* variables beat every config file: the shared values hold from the first process on.
    // PHP's upload limit (upload_max_filesize and post_max_size in the image) matches NGINX's client_max_body_size.
    const env: Record<string, string> = {
        NC_instanceid: s.instanceId,
        NC_passwordsalt: s.passwordSalt,
        NC_secret: s.secret,
        PHP_UPLOAD_LIMIT: plan.nextcloud.maxUploadSize,
    };
    if (installer) {
        // The passwords by file, not in the container's lasting environment (`docker inspect` shows that).
        mounts.push({ source: INSTALL_SECRETS, target: IN_CONTAINER.install, readOnly: true });
        Object.assign(env, {
            NEXTCLOUD_ADMIN_USER: "admin",
            NEXTCLOUD_ADMIN_PASSWORD_FILE: `${IN_CONTAINER.install}/admin-password`,
            NEXTCLOUD_TRUSTED_DOMAINS: plan.nextcloud.trustedDomains.join(" "),
            POSTGRES_HOST: formatEndpoint(site.database!.readWrite),
            POSTGRES_DB: APP_DATABASE.name,
            POSTGRES_USER: APP_DATABASE.role,
            POSTGRES_PASSWORD_FILE: `${IN_CONTAINER.install}/database-password`,
        });
    }
    // In start order: Nextcloud, then cron (on the cron host). Redis is Debian's package on the host (renderRedis).
    const specs: ContainerSpec[] = [];
    specs.push({
        name: "nextcloud",
        image: plan.nextcloud.image,
        env,
        ports: [{ internal: plan.ports.http, external: plan.ports.nextcloud }],
        mounts,
        secret: true,
    });
    if (app.cron === host.name)
        specs.push({
            name: "nextcloud-cron",
            image: plan.nextcloud.image,
            env: {},
            ports: [],
            mounts: mounts.slice(0, 3),
            entrypoint: ["/cron.sh"],
            secret: false,
        });
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
    return renderNextcloudContainers(plan, host, bundleSecrets(generateSecrets(() => "")).nextcloud);
}

/** The host side of an app node; its containers are placed by the NextcloudTier component. */
/** The app node's running Nextcloud containers restarted after their files changed, then Nextcloud answering again (bounded). */
function restartContainers(plan: DeploymentPlan): ApplyRule {
    const running = (c: string) => `[ "$(docker inspect -f '{{.State.Running}}' ${c} 2>/dev/null)" = true ]`;
    return {
        kind: "run",
        command: [
            "for c in nextcloud nextcloud-cron; do",
            `    if ${running('"$c"')}; then docker restart "$c" >/dev/null; echo "docker: $c restarted (it reads its config and hooks at start)"; fi`,
            "done",
        ].join("\n"),
        // No container yet (the first converge, before Pulumi creates them): nothing to wait for.
        healthy: `! ${running("nextcloud")} || curl -fsS http://127.0.0.1:${plan.ports.nextcloud}/status.php`,
    };
}

export function renderNextcloudNode(plan: DeploymentPlan, host: HostPlan, secrets: NextcloudSecrets, caTrust: string): RenderedHost {
    const installer = appOf(plan).installer === host.name;
    const hook = renderHook(installer);
    // Read once, by the installer's entrypoint (as root, before it drops to www-data).
    const installSecrets = installer
        ? [
              { path: `${INSTALL_SECRETS}/admin-password`, content: secrets.adminPassword, mode: "0600", owner: "root:root", noApply: true },
              { path: `${INSTALL_SECRETS}/database-password`, content: secrets.databasePassword, mode: "0600", owner: "root:root", noApply: true },
          ]
        : [];
    return mergeRendered([
        renderGlusterMount(plan),
        ...(siteByName(plan, host.site).redis === host.name ? [renderRedis(plan, host, secrets.redisPassword)] : []),
        {
            files: [
                // www-data (uid 33 on Debian and in the image) reads it inside the container.
                { path: NEXTCLOUD_CONFIG, content: renderNextcloudConfig(plan, host, secrets), mode: "0640", owner: "www-data:www-data" },
                { path: APP_CA_FILE, content: caTrust, mode: "0644", owner: "root:root" },
                { path: `${HOOKS}/pre-installation/10-nextcloud-ha.sh`, content: hook, mode: "0755", owner: "root:root" },
                { path: `${HOOKS}/before-starting/10-nextcloud-ha.sh`, content: hook, mode: "0755", owner: "root:root" },
                ...installSecrets,
            ],
            // The containers copy the shared config in place when they start (the before-starting hook):
            // a change reaches them by a restart, one host at a time (converge steps of a service run in turn).
            services: [{ name: "docker", unit: "docker.service", user: "root", command: ["/usr/sbin/dockerd"], apply: restartContainers(plan) }],
            packages: ["docker.io", "curl"],
        },
    ]);
}
