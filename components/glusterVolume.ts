/**
 * GlusterVolume: this site's brick hosts (a data disk each) and, on the site of the volume's
 * creator (deployed last), the remote command that probes the peers and creates the
 * `replica 2 arbiter 1` volume. The command is idempotent, re-runs when the script changes,
 * and reaches the host over SSH with the operator's agent (SSH_AUTH_SOCK).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { ComponentPlan, GlusterPlan, hostByName } from "../plan/plan";
import { renderVolumeScript } from "../render/gluster";
import { Placement, placeHosts } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";

export interface GlusterVolumeArgs {
    /** The volume (plan `gluster`): its bricks and its creator. */
    volume: GlusterPlan;
    /** This site's gluster component (plan `sites[].components`): the hosts whose VM it places, and the brick hosts another component places. */
    component: ComponentPlan;
    /** The VMs of `component.uses`, placed by other components of this stack: the volume's command waits for them too. */
    usedHosts: Record<string, ProxmoxHost>;
    /** How a host is placed: the plan, the stack's Proxmox and SSH settings, the secrets. */
    placement: Placement;
    /** The image's user that remote commands log in as (stack config `sshUser`). */
    sshUser: string;
}

export class GlusterVolume extends pulumi.ComponentResource {
    readonly volumeName: pulumi.Output<string>;
    /** `address` of every brick host: the mount's server and backup volfile servers. */
    readonly mountServers: pulumi.Output<string[]>;
    /** The VMs this component placed, by host name. */
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, args: GlusterVolumeArgs, opts?: pulumi.ComponentResourceOptions) {
        const { volume, component, placement } = args;
        const { plan } = placement;
        super(
            "nextcloud-ha:index:GlusterVolume",
            name,
            { volume: volume.volume, bricks: volume.bricks.map((b) => ({ host: b.host, arbiter: b.arbiter })), creator: volume.creator },
            opts,
        );
        const missing = component.uses.filter((h) => !args.usedHosts[h]);
        if (missing.length > 0)
            throw new pulumi.ResourceError(`the VMs of brick hosts ${missing.join(", ")} were not handed over; create their components first`, this);
        this.hosts = placeHosts(this, placement, component.builds);
        const local = { ...args.usedHosts, ...this.hosts };
        if (local[volume.creator] && !hostByName(plan, volume.creator).fenced) {
            const creator = hostByName(plan, volume.creator);
            const script = renderVolumeScript(plan, creator);
            // The script goes with the command (on stdin), so a changed script runs as rendered now.
            new command.remote.Command(
                `${name}-create`,
                {
                    connection: local[volume.creator].connection,
                    create: `sudo sh -s`,
                    stdin: script,
                    triggers: [createHash("sha256").update(script).digest("hex")],
                },
                // Once glusterd runs on every brick host of this stack (the other stacks' were deployed first).
                { parent: this, dependsOn: Object.values(local).flatMap((h) => h.converged.glusterd ?? h.ready ?? []) },
            );
        }
        this.volumeName = pulumi.output(volume.volume);
        this.mountServers = pulumi.output(volume.bricks.map((b) => hostByName(plan, b.host).address));
        this.registerOutputs({ volumeName: this.volumeName, mountServers: this.mountServers });
    }
}
