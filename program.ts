/**
 * The stack program as a function: loads the config and the plan of all sites (every bad
 * value fails here, before any resource), creates this site's components in the plan's
 * order, each with its slice of the plan, and returns the site's outputs. index.ts exports
 * them; the tests and `npm run check` call it under the mock runtime.
 */
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
    EtcdQuorum,
    exportsInTheClear,
    FailureDomains,
    GlusterVolume,
    LoadBalancer,
    NextcloudTier,
    PatroniCluster,
    Placement,
    ProxmoxHost,
    sealTargetOf,
    sealTargets,
    SharedSecrets,
    SHARED_OUTPUTS,
} from "./components";
import { parseEndpoint } from "./plan/addresses";
import { CONFIG_KEYS, ConfigKey, PROJECT, RawConfig } from "./plan/config";
import { failureMatrix } from "./plan/failureDomains";
import { loadDeployment } from "./plan/load";
import { ComponentKind, HostPlan, hostsOf, siteByName } from "./plan/plan";
import { certificateNames, needsTls } from "./render/host";
import { issueTlsIdentity } from "./components/host/tlsIdentity";
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

/** A known_hosts file where the program runs (a public key, nothing secret): what render/ssh.ts's options point at. */
function writeKnownHosts(name: string, content: string): string {
    const dir = path.join(os.tmpdir(), "nextcloud-ha-known-hosts");
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    return file;
}

/** Declares this stack's resources from its config; returns its outputs. */
export function deploySite() {
    const { config, plan } = loadDeployment(readConfig());
    const site = siteByName(plan, config.site);
    // The primary stack issues the TLS identities of the other sites' hosts too: the CA's key stays in its stack.
    const elsewhere = plan.hosts.filter((h) => h.site !== site.name && needsTls(h));
    // With a seal key in the plan, the site reads only its own part, sealed to that key (docs/design/security.md).
    const sealTarget = sealTargetOf(plan, site.name);
    const secrets = new SharedSecrets("shared", {
        primaryStack: config.primaryStack,
        rotation: plan.passwords.rotation,
        ca: { signing: plan.certificates.caSigning, trusted: plan.certificates.caTrusted },
        ...(config.primaryStack
            ? sealTarget
                ? { sealedPart: { target: sealTarget, privateKeyPem: new pulumi.Config(PROJECT).requireSecret("sealPrivateKey") } }
                : {}
            : {
                  issueFor: { hosts: elsewhere.map((h) => ({ name: h.name, names: certificateNames(plan, h) })), lifetime: plan.certificates },
                  sealFor: sealTargets(plan),
              }),
    });
    const identity = (host: HostPlan, parent: pulumi.Resource) =>
        secrets.caKeyPem
            ? issueTlsIdentity(
                  `${host.name}-etcd-tls`,
                  certificateNames(plan, host),
                  { certPem: secrets.caCertPem, keyPem: secrets.caKeyPem, trustPem: secrets.caTrustPem },
                  plan.certificates,
                  parent,
              )
            : secrets.identityOf(host.name);
    // Proxmox applies the VMs' firewall rules only while the datacenter's firewall is on, and it ships
    // off. On, with the datacenter's own input policy ACCEPT: the Proxmox nodes (8006, 22) stay
    // reachable as before, only the VMs' rules (policy DROP) take effect. Kept on when the stack goes:
    // other stacks' VMs may share the Proxmox cluster.
    new proxmox.cluster.FirewallLegacy(
        `${site.name}-datacenter-firewall`,
        { enabled: true, inputPolicy: "ACCEPT", outputPolicy: "ACCEPT" },
        { retainOnDelete: true },
    );
    // Every stack carries the plan's failure matrix: the policy pack refuses a plan with a gap.
    new FailureDomains(`${site.name}-failure-domains`, { matrix: failureMatrix(plan) });
    const hasNginx = hostsOf(plan, { site: site.name, role: "nginx" }).length > 0;
    const standbyOf = plan.patroniClusters.find((c) => c.scope === site.patroniCluster)?.standbyOf;
    const placement: Placement = {
        plan,
        proxmox: config.proxmox,
        sshAuthorizedKeys: config.sshAuthorizedKeys,
        sshUser: config.sshUser,
        writeKnownHosts,
        secrets: secrets.values,
        identity,
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
                          throw new Error(
                              `${config.primaryStack}'s output ${SHARED_OUTPUTS.replication}: ${(err as Error).message}; deploy ${plan.primarySite} (with its HAProxy) before ${site.name}`,
                          );
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
                made.patroni = new PatroniCluster(
                    name,
                    { cluster: plan.patroniClusters.find((c) => c.scope === site.patroniCluster)!, component, placement, usedHosts },
                    opts,
                );
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

    const topology = plan.topology;
    const siteName = site.name;
    const hosts = hostsOf(plan, { site: site.name }).map((h) => ({ name: h.name, address: h.address, roles: h.roles, vmId: h.vmId }));
    const etcdClientEndpoints = etcd?.clientEndpoints;
    const patroniScope = patroni?.scope;
    const patroniMembers = patroni?.members;
    const primaryEndpoints = lb?.primaryEndpoints;
    const replicaEndpoints = lb?.replicaEndpoints;
    // A primary whose every other site reads its part sealed exports no secret: a StackReference reads every output.
    const clear = !config.primaryStack && exportsInTheClear(plan);
    const replicationCredentials = config.primaryStack || clear ? patroni?.replicationCredentials : undefined;
    const glusterVolume = gluster?.volumeName;
    const glusterMountServers = gluster?.mountServers;
    const nextcloudAppEndpoints = app?.appEndpoints;
    /** Users reach https://<domain>; this site's NGINX answers for it when DNS points here. */
    const publicEndpoint = lb && hasNginx ? lb.nginxAddresses.apply((a) => ({ url: `https://${plan.nextcloud.domain}`, addresses: a })) : undefined;
    /**
     * The A records for the domain. Primary/secondary, never both: the active site's NGINX
     * addresses (or VIP); when moving to another site, replace them with that site's.
     */
    const dnsRecords =
        lb && hasNginx
            ? lb.nginxAddresses.apply((a) => ({
                  name: plan.nextcloud.domain,
                  type: "A",
                  values: a,
                  active: site.name === plan.activeSite,
                  note:
                      site.name === plan.activeSite
                          ? "publish these"
                          : `publish these instead of ${plan.activeSite}'s only when ${site.name} takes over (npm run promote -- ${site.name})`,
              }))
            : undefined;
    // Read by the other sites' stacks (SharedSecrets; names in SHARED_OUTPUTS). Only the primary exports them; the
    // passwords and host keys in the clear only while a site reads them so (one without a seal key in the plan).
    const sharedSecrets = clear ? secrets.values : undefined;
    const sealedForSites = secrets.sealed;
    const etcdCaCertPem = config.primaryStack ? undefined : secrets.caCertPem;
    const caTrustPem = config.primaryStack ? undefined : secrets.caTrustPem;
    const caGenerations = config.primaryStack ? undefined : { signing: plan.certificates.caSigning, trusted: plan.certificates.caTrusted };
    const hostIdentities = clear ? secrets.issued : undefined;
    return {
        topology,
        siteName,
        hosts,
        etcdClientEndpoints,
        patroniScope,
        patroniMembers,
        primaryEndpoints,
        replicaEndpoints,
        replicationCredentials,
        glusterVolume,
        glusterMountServers,
        nextcloudAppEndpoints,
        publicEndpoint,
        dnsRecords,
        sharedSecrets,
        etcdCaCertPem,
        caTrustPem,
        caGenerations,
        hostIdentities,
        sealedForSites,
    };
}
