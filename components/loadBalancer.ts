/**
 * LoadBalancer: this site's HAProxy nodes routing to the Patroni primary (5000) and to the
 * replicas (5001), and its NGINX nodes terminating TLS in front of the site's app nodes
 * (two NGINX nodes share a keepalived VIP).
 */
import * as pulumi from "@pulumi/pulumi";
import { formatEndpoint } from "../plan/addresses";
import { ComponentPlan, hostsOf, SitePlan } from "../plan/plan";
import { Placement, placeHosts } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";

export interface LoadBalancerArgs {
    /** The site (plan `sites[]`): its database endpoint and public addresses. */
    site: SitePlan;
    /** This site's loadBalancer component (plan `sites[].components`): the hosts whose VM it places. */
    component: ComponentPlan;
    /** How a host is placed: the plan, the stack's Proxmox and SSH settings, the secrets, the wildcard certificate. */
    placement: Placement;
}

export class LoadBalancer extends pulumi.ComponentResource {
    /** `address:5000` of each HAProxy node: the read-write endpoint. */
    readonly primaryEndpoints: pulumi.Output<string[]>;
    /** `address:5001` of each HAProxy node: the read-only endpoint. */
    readonly replicaEndpoints: pulumi.Output<string[]>;
    /** The address(es) DNS points at for this site: its VIP, or its NGINX node. */
    readonly nginxAddresses: pulumi.Output<string[]>;
    /** The VMs this component placed, by host name. */
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, args: LoadBalancerArgs, opts?: pulumi.ComponentResourceOptions) {
        const { site, component, placement } = args;
        super("nextcloud-ha:index:LoadBalancer", name, { site: site.name, haproxy: placement.plan.haproxy }, opts);
        this.hosts = placeHosts(this, placement, component.builds);
        const p = placement.plan.ports;
        const lbs = hostsOf(placement.plan, { site: site.name, role: "haproxy" });
        this.primaryEndpoints = pulumi.output(lbs.map((h) => formatEndpoint({ host: h.address, port: p.haproxyPrimary })));
        this.replicaEndpoints = pulumi.output(lbs.map((h) => formatEndpoint({ host: h.address, port: p.haproxyReplicas })));
        this.nginxAddresses = pulumi.output(site.publicAddresses);
        this.registerOutputs({ primaryEndpoints: this.primaryEndpoints, replicaEndpoints: this.replicaEndpoints, nginxAddresses: this.nginxAddresses });
    }
}
