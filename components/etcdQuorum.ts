/**
 * EtcdQuorum: this site's members of the etcd cluster (three-site: one cluster spread over
 * all sites; two-site: one cluster per site), with TLS for clients and peers.
 */
import * as pulumi from "@pulumi/pulumi";
import { etcdClusterOf, hostsOf, memberPlacement } from "../plan/plan";
import { ownedHosts, placeHosts, SiteContext } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";
import { etcdClientUrls } from "../render/etcd";

export class EtcdQuorum extends pulumi.ComponentResource {
    /** Client URLs of every member of the cluster, in every site. */
    readonly clientEndpoints: pulumi.Output<string[]>;
    /** Member names of the whole cluster. */
    readonly members: pulumi.Output<string[]>;
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, ctx: SiteContext, opts?: pulumi.ComponentResourceOptions) {
        const local = hostsOf(ctx.plan, ctx.config.site, "etcd");
        if (local.length === 0) throw new Error(`site ${ctx.config.site} has no etcd member`);
        const cluster = etcdClusterOf(ctx.plan, local[0].name);
        // The args reach the engine as the component's inputs: the policy pack reads them.
        super("nextcloud-ha:index:EtcdQuorum", name, { site: ctx.config.site, cluster: { name: cluster.name, members: memberPlacement(ctx.plan, cluster.members) } }, opts);
        this.hosts = placeHosts(this, ctx, ownedHosts(ctx, "etcd"));
        this.clientEndpoints = pulumi.output(etcdClientUrls(ctx.plan, local[0].name));
        this.members = pulumi.output(cluster.members);
        this.registerOutputs({ clientEndpoints: this.clientEndpoints, members: this.members });
    }
}
