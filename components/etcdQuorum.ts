/**
 * EtcdQuorum: this site's members of the etcd cluster (three-site: one cluster spread over
 * all sites; two-site: one cluster per site), with TLS for clients and peers.
 */
import * as pulumi from "@pulumi/pulumi";
import { ComponentPlan, EtcdClusterPlan, memberPlacement } from "../plan/plan";
import { etcdClientUrls } from "../render/etcd";
import { Placement, placeHosts } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";

export interface EtcdQuorumArgs {
    /** The etcd cluster this site's members belong to (plan `etcdClusters`). */
    cluster: EtcdClusterPlan;
    /** This site's etcd component (plan `sites[].components`): the hosts whose VM it places. */
    component: ComponentPlan;
    /** How a host is placed: the plan, the stack's Proxmox and SSH settings, the secrets. */
    placement: Placement;
}

export class EtcdQuorum extends pulumi.ComponentResource {
    /** Client URLs of every member of the cluster, in every site. */
    readonly clientEndpoints: pulumi.Output<string[]>;
    /** Member names of the whole cluster. */
    readonly members: pulumi.Output<string[]>;
    /** The VMs this component placed, by host name. */
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, args: EtcdQuorumArgs, opts?: pulumi.ComponentResourceOptions) {
        const { cluster, component, placement } = args;
        // The inputs reach the engine as the component's: the policy pack reads them.
        super(
            "nextcloud-ha:index:EtcdQuorum",
            name,
            { site: component.site, cluster: { name: cluster.name, members: memberPlacement(placement.plan, cluster.members), leaders: cluster.leaders } },
            opts,
        );
        if (cluster.members.length === 0) throw new pulumi.ResourceError(`etcd cluster ${cluster.name} has no members`, this);
        this.hosts = placeHosts(this, placement, component.builds);
        this.clientEndpoints = pulumi.output(etcdClientUrls(placement.plan, cluster.members[0]));
        this.members = pulumi.output(cluster.members);
        this.registerOutputs({ clientEndpoints: this.clientEndpoints, members: this.members });
    }
}
