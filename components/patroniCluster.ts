/**
 * PatroniCluster: this site's Patroni members running PostgreSQL 17, part of the cluster the
 * plan defines (three-site: one cluster over the data sites; two-site: one per site, the
 * standby site's a standby cluster).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { ComponentPlan, hostByName, memberPlacement, PatroniClusterPlan } from "../plan/plan";
import { DB_USERS } from "../render/patroni";
import { renderClusterStep } from "../render/patroniCluster";
import { passwordsOf, Placement, placeHosts } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";

export interface PatroniMember {
    name: string;
    site: string;
    address: string;
    /** Patroni REST API, e.g. for `patronictl` or a monitoring check. */
    restApi: string;
}

export interface PatroniClusterArgs {
    /** The Patroni cluster this site's members belong to (plan `patroniClusters`). */
    cluster: PatroniClusterPlan;
    /** This site's patroni component (plan `sites[].components`): the hosts whose VM it places. */
    component: ComponentPlan;
    /** How a host is placed: the plan, the stack's Proxmox and SSH settings, the secrets. */
    placement: Placement;
    /** This site's members another component placed (a host with `[etcd, patroni]` is EtcdQuorum's), by name. */
    usedHosts?: Record<string, ProxmoxHost>;
}

export class PatroniCluster extends pulumi.ComponentResource {
    readonly scope: pulumi.Output<string>;
    /** Every member of the cluster, in every site. */
    readonly members: pulumi.Output<PatroniMember[]>;
    /** The replication user and password; secret. */
    readonly replicationCredentials: pulumi.Output<{ username: string; password: string }>;
    /** The VMs this component placed, by host name. */
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, args: PatroniClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const { cluster, component, placement } = args;
        const { plan } = placement;
        super(
            "nextcloud-ha:index:PatroniCluster",
            name,
            {
                site: component.site,
                topology: plan.topology,
                cluster: { scope: cluster.scope, synchronousMode: cluster.synchronousMode, members: memberPlacement(plan, cluster.members) },
                timings: { ttl: plan.patroni.ttl, loopWait: plan.patroni.loopWait, retryTimeout: plan.patroni.retryTimeout },
            },
            opts,
        );
        if (cluster.members.length === 0) throw new pulumi.ResourceError(`Patroni cluster ${cluster.scope} has no members`, this);
        this.hosts = placeHosts(this, placement, component.builds);
        const members = { ...args.usedHosts, ...this.hosts };
        const owner = members[cluster.configuredBy];
        if (owner && !hostByName(plan, cluster.configuredBy).fenced) {
            // The cluster-wide config and the restarts it needs: in the stack of the member that owns it, after this stack's members converged.
            const step = renderClusterStep(plan, cluster);
            new command.remote.Command(
                `${cluster.scope}-cluster-config`,
                { connection: owner.connection, create: step.command, stdin: step.script, triggers: step.triggers },
                { parent: this, dependsOn: Object.values(members).flatMap((h) => h.converged.patroni ?? []) },
            );
        }
        this.scope = pulumi.output(cluster.scope);
        this.members = pulumi.output(
            cluster.members.map((m) => {
                const h = hostByName(plan, m);
                return { name: h.name, site: h.site, address: h.address, restApi: `http://${h.address}:${plan.ports.patroniRest}` };
            }),
        );
        this.replicationCredentials = pulumi.secret(
            passwordsOf(placement, this, `Patroni cluster ${cluster.scope}`, "database").apply((v) => ({
                username: DB_USERS.replication,
                password: v.replicationPassword,
            })),
        );
        this.registerOutputs({ scope: this.scope, members: this.members, replicationCredentials: this.replicationCredentials });
    }
}
