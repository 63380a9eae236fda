/**
 * The stack program: one stack per datacenter. Loads and validates the config (every bad
 * value fails here, before any resource), builds the plan of all sites, and places this
 * site's part of it.
 */
import * as pulumi from "@pulumi/pulumi";
import { EtcdQuorum, GlusterVolume, LoadBalancer, NextcloudTier, PatroniCluster, SharedSecrets, SHARED_OUTPUTS, SiteContext } from "./components";
import { parseEndpoint } from "./render/rendered";
import { CONFIG_KEYS, ConfigError, ConfigKey, loadStackConfig, PROJECT, RawConfig, Role } from "./plan/config";
import { buildPlan, hostsOf } from "./plan/plan";

function readConfig(): RawConfig {
    const cfg = new pulumi.Config(PROJECT);
    const raw: RawConfig = {};
    for (const [key, kind] of Object.entries(CONFIG_KEYS) as [ConfigKey, string][]) {
        if (kind !== "secret") raw[key] = kind === "object" ? cfg.getObject(key) : cfg.get(key);
    }
    return raw;
}

const config = loadStackConfig(readConfig());
const plan = buildPlan(config);
const site = config.site;
const has = (role: Role) => hostsOf(plan, site, role).length > 0;

/** The site's wildcard certificate, needed where NGINX terminates TLS. */
function certificate(): pulumi.Output<{ cert: string; key: string }> | undefined {
    if (!has("nginx")) return undefined;
    const cfg = new pulumi.Config(PROJECT);
    const cert = cfg.get("tlsCertificate");
    const key = cfg.getSecret("tlsKey");
    if (!cert || !/-----BEGIN CERTIFICATE-----/.test(cert)) {
        throw new ConfigError("tlsCertificate", `missing or not a PEM certificate; site ${site} terminates TLS: \`pulumi config set ${PROJECT}:tlsCertificate -- "$(cat wildcard.crt)"\``);
    }
    if (!key) throw new ConfigError("tlsKey", `missing; set the wildcard certificate's key as a secret: \`pulumi config set --secret ${PROJECT}:tlsKey -- "$(cat wildcard.key)"\``);
    return pulumi.secret(key.apply((k) => ({ cert, key: k })));
}

const secrets = new SharedSecrets("shared", { primaryStack: config.primaryStack });
/**
 * two-site: a standby cluster following the primary stack's site reads that stack's
 * read-write endpoint (its `primaryEndpoints` output). After a promotion (activeSite set to
 * another site) the plan names the endpoint: the primary stack never reads another's outputs.
 */
const standbyOf = plan.patroniClusters.find((c) => c.sites.includes(site) && hostsOf(plan, site, "patroni").length > 0)?.standbyOf;
const replicationSource =
    standbyOf && secrets.primary && standbyOf.site === plan.primarySite
        ? secrets.primary.requireOutput(SHARED_OUTPUTS.replication).apply((e) => {
              try {
                  return parseEndpoint((e as string[])[0]);
              } catch (err) {
                  throw new Error(`${config.primaryStack}'s output ${SHARED_OUTPUTS.replication}: ${(err as Error).message}; deploy ${plan.primarySite} (with its HAProxy) before ${site}`);
              }
          })
        : undefined;
const ctx: SiteContext = { plan, config, secrets, certificate: certificate(), replicationSource };

const etcd = has("etcd") ? new EtcdQuorum(`${site}-etcd`, ctx) : undefined;
const patroni = has("patroni") ? new PatroniCluster(`${site}-patroni`, ctx) : undefined;
const lb = has("haproxy") ? new LoadBalancer(`${site}-lb`, ctx, { dependsOn: patroni ? [patroni] : [] }) : undefined;
const brickHosts = plan.gluster?.bricks.map((b) => b.host).filter((h) => hostsOf(plan, site).some((x) => x.name === h)) ?? [];
// Brick hosts whose first role is another (an etcd witness that is also the arbiter) are already built.
const built = { ...etcd?.hosts, ...patroni?.hosts, ...lb?.hosts };
const gluster = brickHosts.length > 0 ? new GlusterVolume(`${site}-gluster`, ctx, Object.fromEntries(Object.entries(built).filter(([n]) => brickHosts.includes(n)))) : undefined;
const app = has("nextcloud") ? new NextcloudTier(`${site}-nextcloud`, ctx, { dependsOn: [...(lb ? [lb] : []), ...(gluster ? [gluster] : [])] }) : undefined;

export const topology = plan.topology;
export const siteName = site;
export const hosts = hostsOf(plan, site).map((h) => ({ name: h.name, address: h.address, roles: h.roles, vmId: h.vmId }));
export const etcdClientEndpoints = etcd?.clientEndpoints;
export const patroniScope = patroni?.scope;
export const patroniMembers = patroni?.members;
export const primaryEndpoints = lb?.primaryEndpoints;
export const replicaEndpoints = lb?.replicaEndpoints;
export const replicationCredentials = patroni?.replicationCredentials;
export const glusterVolume = gluster?.volumeName;
export const glusterMountServers = gluster?.mountServers;
export const nextcloudAppEndpoints = app?.appEndpoints;
/** Users reach https://<domain>; this site's NGINX answers for it when DNS points here. */
export const publicEndpoint = lb && has("nginx") ? lb.nginxAddresses.apply((a) => ({ url: `https://${plan.nextcloud.domain}`, addresses: a })) : undefined;
/**
 * The A records for the domain. Primary/secondary, never both: the active site's NGINX
 * addresses (or VIP); when moving to another site, replace them with that site's.
 */
export const dnsRecords =
    lb && has("nginx")
        ? lb.nginxAddresses.apply((a) => ({
              name: plan.nextcloud.domain,
              type: "A",
              values: a,
              active: site === plan.activeSite,
              note: site === plan.activeSite ? "publish these" : `publish these instead of ${plan.activeSite}'s only when ${site} takes over (npm run promote -- ${site})`,
          }))
        : undefined;
// Read by the other sites' stacks (SharedSecrets; names in SHARED_OUTPUTS). Only the primary exports them.
export const sharedSecrets = config.primaryStack ? undefined : secrets.values;
export const etcdCaCertPem = config.primaryStack ? undefined : secrets.caCertPem;
