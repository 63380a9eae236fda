/**
 * The host building block every component stands on: a Proxmox VM cloned from the Debian 13
 * cloud-init template, with the plan's static address, tagged with its site and roles, and
 * its rendered cloud-init user data uploaded as a snippet.
 */
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { ProxmoxConfig } from "../../plan/config";
import { HostPlan } from "../../plan/plan";
import { FirewallRule } from "../../render/firewall";

export interface ProxmoxHostArgs {
    /** The plan's host: name, site, address, roles, size, VM id, Proxmox node, data disk. */
    host: HostPlan;
    /** The template to clone and the datastores and bridge to use (stack config `proxmox`). */
    proxmox: ProxmoxConfig;
    /** Inbound rules (policy DROP otherwise), from renderFirewall. */
    firewall: FirewallRule[];
    /** The plan's networks: the policy pack checks the protected ports against them. */
    networks: string[];
    /** The host's cloud-init user data (secret when it holds passwords or keys). */
    userData: pulumi.Input<string>;
}

export class ProxmoxHost extends pulumi.ComponentResource {
    readonly vmId: pulumi.Output<number>;
    readonly address: string;
    readonly vm: proxmox.VmLegacy;

    constructor(name: string, args: ProxmoxHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nextcloud-ha:index:ProxmoxHost", name, { host: args.host, proxmox: args.proxmox, firewall: args.firewall, networks: args.networks }, opts);
        const { host, proxmox: px } = args;
        const snippet = new proxmox.FileLegacy(
            `${name}-user-data`,
            {
                nodeName: host.proxmoxNode,
                datastoreId: px.snippetsDatastore,
                contentType: "snippets",
                // Named by content: a changed snippet is a new file, so replacing it never
                // deletes the file a VM still points at.
                sourceRaw: {
                    fileName: pulumi
                        .output(args.userData)
                        .apply((d) => `${host.name}-user-data-${createHash("sha256").update(d).digest("hex").slice(0, 12)}.yaml`),
                    data: args.userData,
                },
            },
            { parent: this },
        );
        this.vm = new proxmox.VmLegacy(
            name,
            {
                name: host.name,
                nodeName: host.proxmoxNode,
                vmId: host.vmId,
                description: `nextcloud-ha ${host.roles.join(", ")} in ${host.site}`,
                tags: ["nextcloud-ha", host.site, ...host.roles],
                clone: { vmId: px.templateVmId, full: true },
                onBoot: true,
                started: true,
                agent: { enabled: true },
                operatingSystem: { type: "l26" },
                cpu: { cores: host.size.cores, type: "host" },
                memory: { dedicated: host.size.memoryMb },
                disks: [
                    { interface: "scsi0", datastoreId: px.datastore, size: host.size.diskGb, discard: "on", iothread: true },
                    ...(host.dataDisk ? [{ interface: "scsi1", datastoreId: px.datastore, size: host.dataDisk.sizeGb, discard: "on", iothread: true }] : []),
                ],
                scsiHardware: "virtio-scsi-single",
                networkDevices: [{ bridge: px.bridge, model: "virtio", vlanId: px.vlanId, firewall: true }],
                initialization: {
                    datastoreId: px.datastore,
                    ipConfigs: [{ ipv4: { address: `${host.address}/${host.prefix}`, gateway: host.gateway } }],
                    dns: { servers: host.dns },
                    userDataFileId: snippet.id,
                },
            },
            // cloud-init acts on the first boot only: a later change of the user data must not
            // replace a running database VM. Changes after that go through the hosts' services.
            { parent: this, ignoreChanges: ["initialization"] },
        );
        new proxmox.firewall.OptionsLegacy(
            `${name}-firewall`,
            { nodeName: host.proxmoxNode, vmId: host.vmId, enabled: true, inputPolicy: "DROP", outputPolicy: "ACCEPT" },
            { parent: this, dependsOn: [this.vm] },
        );
        new proxmox.firewall.RulesLegacy(
            `${name}-firewall-rules`,
            {
                nodeName: host.proxmoxNode,
                vmId: host.vmId,
                rules: args.firewall.map((r) => ({
                    type: "in",
                    action: "ACCEPT",
                    proto: r.proto,
                    dport: r.dport || undefined,
                    source: r.source || undefined,
                    comment: r.comment,
                })),
            },
            { parent: this, dependsOn: [this.vm] },
        );
        this.vmId = this.vm.vmId as pulumi.Output<number>;
        this.address = host.address;
        this.registerOutputs({ vmId: this.vmId, address: this.address });
    }
}
