/**
 * PatroniCluster: this site's Patroni members running PostgreSQL 17, part of the cluster the
 * plan defines (three-site: one cluster over the data sites; two-site: one per site, the
 * secondary a standby cluster).
 */
import * as pulumi from "@pulumi/pulumi";
import { hostByName, hostsOf, memberPlacement, patroniClusterOf } from "../plan/plan";
import { ownedHosts, placeHosts, SiteContext } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";
import { DB_USERS } from "../render/patroni";

export interface PatroniMember {
    name: string;
    site: string;
    address: string;
    /** Patroni REST API, e.g. for `patronictl` or a monitoring check. */
    restApi: string;
}

export class PatroniCluster extends pulumi.ComponentResource {
    readonly scope: pulumi.Output<string>;
    /** Every member of the cluster, in every site. */
    readonly members: pulumi.Output<PatroniMember[]>;
    /** The replication user and password; secret. */
    readonly replicationCredentials: pulumi.Output<{ username: string; password: string }>;
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, ctx: SiteContext, opts?: pulumi.ComponentResourceOptions) {
        const local = hostsOf(ctx.plan, ctx.config.site, "patroni");
        if (local.length === 0) throw new Error(`site ${ctx.config.site} has no Patroni member`);
        const cluster = patroniClusterOf(ctx.plan, local[0].name);
        super(
            "nextcloud-ha:index:PatroniCluster",
            name,
            {
                site: ctx.config.site,
                topology: ctx.plan.topology,
                cluster: { scope: cluster.scope, synchronousMode: cluster.synchronousMode, members: memberPlacement(ctx.plan, cluster.members) },
                timings: { ttl: ctx.plan.patroni.ttl, loopWait: ctx.plan.patroni.loopWait, retryTimeout: ctx.plan.patroni.retryTimeout },
            },
            opts,
        );
        this.hosts = placeHosts(this, ctx, ownedHosts(ctx, "patroni"));
        this.scope = pulumi.output(cluster.scope);
        this.members = pulumi.output(
            cluster.members.map((m) => {
                const h = hostByName(ctx.plan, m);
                return { name: h.name, site: h.site, address: h.address, restApi: `http://${h.address}:${ctx.plan.ports.patroniRest}` };
            }),
        );
        this.replicationCredentials = pulumi.secret(
            ctx.secrets.values.apply((v) => ({ username: DB_USERS.replication, password: v.database.replicationPassword })),
        );
        this.registerOutputs({ scope: this.scope, members: this.members, replicationCredentials: this.replicationCredentials });
    }
}
