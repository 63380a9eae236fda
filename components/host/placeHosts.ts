/**
 * Places the hosts a component owns: issues each its TLS identity, renders everything the
 * host receives, and builds its VM. The components differ only in which hosts they own.
 */
import * as pulumi from "@pulumi/pulumi";
import { Role, StackConfig } from "../../plan/config";
import { DeploymentPlan, HostPlan, hostsOf } from "../../plan/plan";
import { needsTls, renderHost } from "../../render/host";
import { TlsCertificate } from "../../render/nginx";
import { Endpoint } from "../../render/rendered";
import { SharedSecrets } from "../sharedSecrets";
import { renderCloudInit } from "../../render/cloudInit";
import { renderFirewall } from "../../render/firewall";
import { ProxmoxHost } from "./proxmoxHost";
import { issueTlsIdentity } from "./tlsIdentity";

/** What every component of one stack shares. */
export interface SiteContext {
    plan: DeploymentPlan;
    config: StackConfig;
    secrets: SharedSecrets;
    /** The wildcard certificate and key (stack config; the key secret), for NGINX hosts. */
    certificate?: pulumi.Output<TlsCertificate>;
    /** two-site standby: the read-write endpoint the primary stack exports, that the standby cluster follows. */
    replicationSource?: pulumi.Output<Endpoint>;
}

/**
 * The hosts of this stack's site that a role's component builds: a host with several roles
 * is built once, by the component of its first role (roles are ordered etcd, patroni, haproxy).
 */
export function ownedHosts(ctx: SiteContext, role: Role): HostPlan[] {
    return hostsOf(ctx.plan, ctx.config.site, role).filter((h) => h.roles[0] === role);
}

export function placeHosts(parent: pulumi.ComponentResource, ctx: SiteContext, hosts: HostPlan[]): Record<string, ProxmoxHost> {
    const placed: Record<string, ProxmoxHost> = {};
    for (const host of hosts) {
        const tls = needsTls(host)
            ? issueTlsIdentity(`${host.name}-etcd-tls`, host, { certPem: ctx.secrets.caCertPem, keyPem: ctx.secrets.values.caKeyPem }, parent)
            : undefined;
        const userData = pulumi
            .all([ctx.secrets.values, tls, host.roles.includes("nginx") ? ctx.certificate : undefined, host.roles.includes("patroni") ? ctx.replicationSource : undefined])
            .apply(([values, identity, certificate, standbySource]) =>
                renderCloudInit(
                    host,
                    renderHost(ctx.plan, host, {
                        database: host.roles.includes("patroni") ? values.database : undefined,
                        nextcloud: host.roles.includes("nextcloud") ? values.nextcloud : undefined,
                        tls: identity,
                        certificate,
                        standbySource,
                    }),
                    ctx.config.sshAuthorizedKeys,
                ),
            );
        placed[host.name] = new ProxmoxHost(
            host.name,
            { host, proxmox: ctx.config.proxmox, userData: pulumi.secret(userData), firewall: renderFirewall(ctx.plan, host), networks: ctx.plan.networks },
            { parent },
        );
    }
    return placed;
}
