/**
 * The stack program: one stack per datacenter. Loads and validates the config (every bad
 * value fails here, before any resource), builds the plan of all sites, and places this
 * site's part of it.
 */
import * as pulumi from "@pulumi/pulumi";
import { EtcdQuorum, LoadBalancer, PatroniCluster, SharedSecrets, SiteContext } from "./components";
import { CONFIG_KEYS, ConfigKey, loadStackConfig, PROJECT, RawConfig } from "./plan/config";
import { buildPlan, hostsOf } from "./plan/plan";

function readConfig(): RawConfig {
    const cfg = new pulumi.Config(PROJECT);
    const raw: RawConfig = {};
    for (const [key, kind] of Object.entries(CONFIG_KEYS) as [ConfigKey, string][]) {
        raw[key] = kind === "object" ? cfg.getObject(key) : cfg.get(key);
    }
    return raw;
}

const config = loadStackConfig(readConfig());
const plan = buildPlan(config);
const site = config.site;
const has = (role: "etcd" | "patroni" | "haproxy") => hostsOf(plan, site, role).length > 0;

const secrets = new SharedSecrets("shared", { primaryStack: config.primaryStack });
const ctx: SiteContext = { plan, config, secrets };

const etcd = has("etcd") ? new EtcdQuorum(`${site}-etcd`, ctx) : undefined;
const patroni = has("patroni") ? new PatroniCluster(`${site}-patroni`, ctx) : undefined;
const lb = has("haproxy") ? new LoadBalancer(`${site}-lb`, ctx, { dependsOn: patroni ? [patroni] : [] }) : undefined;

export const topology = plan.topology;
export const siteName = site;
export const hosts = hostsOf(plan, site).map((h) => ({ name: h.name, address: h.address, roles: h.roles, vmId: h.vmId }));
export const etcdClientEndpoints = etcd?.clientEndpoints;
export const patroniScope = patroni?.scope;
export const patroniMembers = patroni?.members;
export const primaryEndpoints = lb?.primaryEndpoints;
export const replicaEndpoints = lb?.replicaEndpoints;
export const replicationCredentials = patroni?.replicationCredentials;
// Read by the other sites' stacks (SharedSecrets; names in SHARED_OUTPUTS). Only the primary exports them.
export const sharedSecrets = config.primaryStack ? undefined : secrets.values;
export const etcdCaCertPem = config.primaryStack ? undefined : secrets.caCertPem;
