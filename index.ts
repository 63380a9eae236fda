/**
 * The stack program: one stack per datacenter. Loads the config and the plan of all sites
 * (every bad value fails here, before any resource), then creates this site's components in
 * the plan's order, each with its slice of the plan, and exports the site's endpoints.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    EtcdQuorum,
    GlusterVolume,
    LoadBalancer,
    NextcloudTier,
    PatroniCluster,
    Placement,
    ProxmoxHost,
    SharedSecrets,
    SHARED_OUTPUTS,
} from "./components";
import { parseEndpoint } from "./plan/addresses";
import { CONFIG_KEYS, ConfigKey, PROJECT, RawConfig } from "./plan/config";
import { loadDeployment } from "./plan/load";
import { ComponentKind, hostsOf, siteByName } from "./plan/plan";
import { TlsCertificate } from "./render/nginx";

function readConfig(): RawConfig {
    const cfg = new pulumi.Config(PROJECT);
    const raw: RawConfig = {};
    for (const [key, kind] of Object.entries(CONFIG_KEYS) as [ConfigKey, string][]) {
        // A secret's value never reaches the loaders; they learn only that it is set.
        raw[key] = kind === "object" ? cfg.getObject(key) : kind === "secret" ? (cfg.getSecret(key) ? "[secret]" : undefined) : cfg.get(key);
    }
    return raw;
}

const { config, plan } = loadDeployment(readConfig());
const site = siteByName(plan, config.site);
const secrets = new SharedSecrets("shared", { primaryStack: config.primaryStack });
const hasNginx = hostsOf(plan, { site: site.name, role: "nginx" }).length > 0;
const standbyOf = plan.patroniClusters.find((c) => c.scope === site.patroniCluster)?.standbyOf;
const placement: Placement = {
    plan,
    proxmox: config.proxmox,
    sshAuthorizedKeys: config.sshAuthorizedKeys,
    secrets: secrets.values,
    caCertPem: secrets.caCertPem,
    // loadDeployment has checked both are set where the site runs NGINX.
    certificate: hasNginx
        ? pulumi.secret(new pulumi.Config(PROJECT).requireSecret("tlsKey").apply((key): TlsCertificate => ({ cert: config.tlsCertificate!, key })))
        : undefined,
    replicationSource:
        standbyOf?.viaStackOutput && secrets.primary
            ? secrets.primary.requireOutput(SHARED_OUTPUTS.replication).apply((e) => {
                  try {
                      return parseEndpoint((e as string[])[0]);
                  } catch (err) {
                      throw new Error(`${config.primaryStack}'s output ${SHARED_OUTPUTS.replication}: ${(err as Error).message}; deploy ${plan.primarySite} (with its HAProxy) before ${site.name}`);
                  }
              })
            : undefined,
};

// The site's components, in the plan's order; each gets the VMs it acts on but does not place.
const made: Partial<Record<ComponentKind, pulumi.ComponentResource & { hosts: Record<string, ProxmoxHost> }>> = {};
const placed: Record<string, ProxmoxHost> = {};
for (const component of site.components) {
    const name = `${site.name}-${component.kind === "loadBalancer" ? "lb" : component.kind}`;
    const opts = { dependsOn: component.after.map((a) => made[a.kind]!) };
    const usedHosts = Object.fromEntries(component.uses.map((h) => [h, placed[h]]));
    switch (component.kind) {
        case "etcd":
            made.etcd = new EtcdQuorum(name, { cluster: plan.etcdClusters.find((c) => c.name === site.etcdCluster)!, component, placement }, opts);
            break;
        case "patroni":
            made.patroni = new PatroniCluster(name, { cluster: plan.patroniClusters.find((c) => c.scope === site.patroniCluster)!, component, placement }, opts);
            break;
        case "loadBalancer":
            made.loadBalancer = new LoadBalancer(name, { site, component, placement }, opts);
            break;
        case "gluster":
            made.gluster = new GlusterVolume(name, { volume: plan.gluster!, component, usedHosts, placement, sshUser: config.sshUser }, opts);
            break;
        case "nextcloud":
            made.nextcloud = new NextcloudTier(name, { site, app: plan.app!, component, usedHosts, placement, sshUser: config.sshUser }, opts);
            break;
        default: {
            const never: never = component.kind;
            throw new Error(`no component for ${String(never)}`);
        }
    }
    Object.assign(placed, made[component.kind]!.hosts);
}
const etcd = made.etcd as EtcdQuorum | undefined;
const patroni = made.patroni as PatroniCluster | undefined;
const lb = made.loadBalancer as LoadBalancer | undefined;
const gluster = made.gluster as GlusterVolume | undefined;
const app = made.nextcloud as NextcloudTier | undefined;

export const topology = plan.topology;
export const siteName = site.name;
export const hosts = hostsOf(plan, { site: site.name }).map((h) => ({ name: h.name, address: h.address, roles: h.roles, vmId: h.vmId }));
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
export const publicEndpoint = lb && hasNginx ? lb.nginxAddresses.apply((a) => ({ url: `https://${plan.nextcloud.domain}`, addresses: a })) : undefined;
/**
 * The A records for the domain. Primary/secondary, never both: the active site's NGINX
 * addresses (or VIP); when moving to another site, replace them with that site's.
 */
export const dnsRecords =
    lb && hasNginx
        ? lb.nginxAddresses.apply((a) => ({
              name: plan.nextcloud.domain,
              type: "A",
              values: a,
              active: site.name === plan.activeSite,
              note: site.name === plan.activeSite ? "publish these" : `publish these instead of ${plan.activeSite}'s only when ${site.name} takes over (npm run promote -- ${site.name})`,
          }))
        : undefined;
// Read by the other sites' stacks (SharedSecrets; names in SHARED_OUTPUTS). Only the primary exports them.
export const sharedSecrets = config.primaryStack ? undefined : secrets.values;
export const etcdCaCertPem = config.primaryStack ? undefined : secrets.caCertPem;
