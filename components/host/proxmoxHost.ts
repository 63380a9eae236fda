/**
 * The host building block every component stands on: a Proxmox VM cloned from the Debian 13
 * cloud-init template (docs/proxmox-template.md) on the template's node, with the plan's
 * static address, tagged with its site and roles, its cloud-init user data uploaded as a
 * snippet, and `ready`: the remote step that waits for cloud-init to finish, over SSH with
 * the host key pinned. Every remote step on the host waits for `ready`. A stateful VM (an
 * etcd or Patroni member, a brick) is protected: Pulumi refuses to delete or replace it.
 */
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import * as command from "@pulumi/command";
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
    /** The addresses the VM may send from (`ipfilter`), from sourceAddresses. */
    sourceAddresses: string[];
    /** The plan's networks: the policy pack checks the protected ports against them. */
    networks: string[];
    /** The host's cloud-init user data (secret: it holds the SSH host key). */
    userData: pulumi.Input<string>;
    /** The host's SSH public host key (OpenSSH format), pinned by every connection to it. */
    hostKey: pulumi.Input<string>;
    /** The image's user that remote commands log in as (stack config `sshUser`). */
    sshUser: string;
    /**
     * The converge step of each service, in order (render/converge.ts): its script (secret, sent
     * on stdin), its triggers (hashes: a new run when one changes) and the step it must wait for
     * (the same service on the previous host: one host at a time).
     */
    converge: ConvergeStep[];
}

/** One remote step of a host: a service's converge step (`sudo sh -s`), or a step with its own command (a Patroni cluster's roles step). */
export interface ConvergeStep {
    service: string;
    /** What runs the script, which goes on its stdin; default `sudo sh -s`. */
    command?: string;
    script: pulumi.Input<string>;
    triggers: pulumi.Input<string[]>;
    after?: pulumi.Resource;
    /** Run when the host leaves the plan, before its VM goes (a member leaving its cluster, render/rendered.ts `leave`): `<host>-leave-<service>`; holds no secret. */
    delete?: string;
}

/** How a remote step reaches a host: its address, the image's user with the operator's SSH agent, its pinned host key. */
export interface HostConnection {
    host: string;
    user: string;
    hostKey: pulumi.Input<string>;
    dialErrorLimit: number;
    perDialTimeout: number;
}

/**
 * cloud-init's end, bounded (30 minutes): 0 done, 2 done with recoverable errors (reported);
 * anything else a failed first boot (apt could not install, say), reported with its log's tail.
 */
const WAIT_CLOUD_INIT = [
    "timeout 1800 cloud-init status --wait >/dev/null; s=$?",
    "if [ $s -eq 0 ]; then exit 0; fi",
    "cloud-init status --long >&2",
    "if [ $s -eq 2 ]; then exit 0; fi",
    "sudo tail -n 20 /var/log/cloud-init-output.log >&2; exit $s",
].join("; ");

export class ProxmoxHost extends pulumi.ComponentResource {
    readonly vmId: pulumi.Output<number>;
    readonly address: string;
    readonly vm: proxmox.VmLegacy;
    /** cloud-init has finished on the VM: remote steps depend on this, not on the VM. Absent on a fenced site. */
    readonly ready?: command.remote.Command;
    /** How remote steps connect to this host. */
    readonly connection: HostConnection;
    /** Each service's converge step, by service: files in place, the service started or its change applied. */
    readonly converged: Record<string, command.remote.Command> = {};

    constructor(name: string, args: ProxmoxHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("nextcloud-ha:index:ProxmoxHost", name, { host: args.host, proxmox: args.proxmox, firewall: args.firewall, networks: args.networks }, opts);
        const { host, proxmox: px } = args;
        const snippet = new proxmox.FileLegacy(
            `${name}-user-data`,
            {
                nodeName: host.proxmoxNode,
                datastoreId: px.snippetsDatastore,
                contentType: "snippets",
                // Named by content, and kept when replaced: the VM (which ignores later user data)
                // still points at the file its first boot used.
                sourceRaw: {
                    fileName: pulumi
                        .output(args.userData)
                        .apply((d) => `${host.name}-user-data-${createHash("sha256").update(d).digest("hex").slice(0, 12)}.yaml`),
                    data: args.userData,
                },
            },
            { parent: this, retainOnDelete: true },
        );
        this.vm = new proxmox.VmLegacy(
            name,
            {
                name: host.name,
                nodeName: host.proxmoxNode,
                vmId: host.vmId,
                description: `nextcloud-ha ${host.roles.join(", ")} in ${host.site}`,
                tags: ["nextcloud-ha", host.site, ...host.roles],
                // Cloned on the template's node; parallel full clones take turns on the storage lock.
                clone: { vmId: px.templateVmId, nodeName: px.templateNode ?? host.proxmoxNode, datastoreId: px.datastore, full: true, retries: 3 },
                // A fenced site's VMs stay off: a refresh must not start what the operator fenced.
                onBoot: !host.fenced,
                started: !host.fenced,
                agent: { enabled: true, timeout: "15m", waitForIp: { ipv4: true } },
                // Debian's cloud images can panic after a disk resize without a serial console.
                serialDevices: [{ device: "socket" }],
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
                    interface: "ide2",
                    ipConfigs: [{ ipv4: { address: `${host.address}/${host.prefix}`, gateway: host.gateway } }],
                    dns: { servers: host.dns },
                    userDataFileId: snippet.id,
                },
            },
            // cloud-init acts on the first boot only: a later change of the user data must not
            // replace a running database VM. Changes after that go through the hosts' services.
            { parent: this, ignoreChanges: ["initialization"], protect: host.stateful },
        );
        this.connection = { host: host.address, user: args.sshUser, hostKey: args.hostKey, dialErrorLimit: 60, perDialTimeout: 10 };
        // A fenced site's VMs are off on purpose: nothing connects to them.
        if (!host.fenced) {
            // The VM's identity: a replaced VM (new disks, new MAC addresses) gets its whole config again.
            const vmIdentity = pulumi.output(this.vm.macAddresses).apply((m) => `vm ${host.vmId} ${(m ?? []).join(",")}`);
            this.ready = new command.remote.Command(
                `${name}-ready`,
                { connection: this.connection, create: WAIT_CLOUD_INIT, triggers: [vmIdentity] },
                { parent: this, dependsOn: [this.vm] },
            );
            // The host's services in order, each once its predecessor here and the same service on the previous host are done.
            let last: pulumi.Resource = this.ready;
            // Pulumi deletes in the reverse order of dependence: each leave step depends on the one before, so a
            // host's later services leave first (Patroni hands over and stops before the etcd member beside it goes).
            let lastLeave: pulumi.Resource | undefined;
            for (const step of args.converge) {
                last = this.converged[step.service] = new command.remote.Command(
                    `${name}-converge-${step.service}`,
                    {
                        connection: this.connection,
                        create: step.command ?? "sudo sh -s",
                        stdin: step.script,
                        triggers: pulumi.all([step.triggers, vmIdentity]).apply(([t, v]) => [...t, v]),
                    },
                    { parent: this, dependsOn: [last, ...(step.after ? [step.after] : [])] },
                );
                if (step.delete) {
                    // Its own resource: a converge step is replaced at every change of its triggers, and a
                    // replacement runs the old one's delete. This one never changes, so its delete runs only
                    // when the host leaves the plan (before its VM goes: it depends on the VM's steps).
                    lastLeave = new command.remote.Command(
                        `${name}-leave-${step.service}`,
                        // Triggers that never change: a replacement would run the leave script on a member that stays.
                        { connection: this.connection, create: "true", delete: step.delete, triggers: [`vm ${host.vmId}`] },
                        { parent: this, dependsOn: [last, ...(lastLeave ? [lastLeave] : [])] },
                    );
                }
            }
        }
        // ipfilter: the VM sends only from its own addresses (no spoofing another host's /32, which
        // the firewall and pg_hba trust). The ipset first: ipfilter without it drops all of the VM's IPv4.
        const ipfilter = new proxmox.firewall.IpsetLegacy(
            `${name}-ipfilter`,
            {
                nodeName: host.proxmoxNode,
                vmId: host.vmId,
                name: "ipfilter-net0",
                comment: "nextcloud-ha: the addresses this VM may send from",
                cidrs: args.sourceAddresses.map((a) => ({ name: a })),
            },
            { parent: this, dependsOn: [this.vm] },
        );
        new proxmox.firewall.OptionsLegacy(
            `${name}-firewall`,
            { nodeName: host.proxmoxNode, vmId: host.vmId, enabled: true, inputPolicy: "DROP", outputPolicy: "ACCEPT", ipfilter: true },
            { parent: this, dependsOn: [this.vm, ipfilter] },
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
