/**
 * LoadBalancer: this site's HAProxy nodes routing to the Patroni primary (5000) and to the
 * replicas (5001), and its NGINX nodes terminating TLS in front of the site's app nodes
 * (two NGINX nodes share a keepalived VIP).
 */
import * as pulumi from "@pulumi/pulumi";
import { hostsOf, publicAddresses } from "../plan/plan";
import { ownedHosts, placeHosts, SiteContext } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";

export class LoadBalancer extends pulumi.ComponentResource {
    /** `address:5000` of each HAProxy node: the read-write endpoint. */
    readonly primaryEndpoints: pulumi.Output<string[]>;
    /** `address:5001` of each HAProxy node: the read-only endpoint. */
    readonly replicaEndpoints: pulumi.Output<string[]>;
    readonly hosts: Record<string, ProxmoxHost>;

    /** The address(es) DNS points at for this site: its VIP, or its one NGINX node. */
    readonly nginxAddresses: pulumi.Output<string[]>;

    constructor(name: string, ctx: SiteContext, opts?: pulumi.ComponentResourceOptions) {
        const local = hostsOf(ctx.plan, ctx.config.site, "haproxy");
        if (local.length === 0) throw new Error(`site ${ctx.config.site} has no HAProxy host`);
        super("nextcloud-ha:index:LoadBalancer", name, { site: ctx.config.site, haproxy: ctx.plan.haproxy }, opts);
        this.hosts = placeHosts(this, ctx, [...ownedHosts(ctx, "haproxy"), ...ownedHosts(ctx, "nginx")]);
        const p = ctx.plan.ports;
        this.primaryEndpoints = pulumi.output(local.map((h) => `${h.address}:${p.haproxyPrimary}`));
        this.replicaEndpoints = pulumi.output(local.map((h) => `${h.address}:${p.haproxyReplicas}`));
        // With two NGINX nodes, the public address is the site's VIP.
        this.nginxAddresses = pulumi.output(publicAddresses(ctx.plan, ctx.config.site));
        this.registerOutputs({ primaryEndpoints: this.primaryEndpoints, replicaEndpoints: this.replicaEndpoints, nginxAddresses: this.nginxAddresses });
    }
}
