/**
 * GlusterVolume: this site's brick hosts (a data disk each) and, on the site that holds the
 * last brick (deployed last), the remote command that probes the peers and creates the
 * `replica 2 arbiter 1` volume. The command is idempotent, re-runs when the script changes,
 * and reaches the host over SSH with the operator's agent (SSH_AUTH_SOCK).
 */
import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import { hostByName } from "../plan/plan";
import { ownedHosts, placeHosts, SiteContext } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";
import { renderVolumeScript, VOLUME_SCRIPT } from "../render/gluster";

export class GlusterVolume extends pulumi.ComponentResource {
    readonly volumeName: pulumi.Output<string>;
    /** `address` of every brick host: the mount's server and backup volfile servers. */
    readonly mountServers: pulumi.Output<string[]>;
    readonly hosts: Record<string, ProxmoxHost>;

    /** `placed`: brick hosts of this site that other components already built (e.g. an etcd witness that is also the arbiter). */
    constructor(name: string, ctx: SiteContext, placed: Record<string, ProxmoxHost>, opts?: pulumi.ComponentResourceOptions) {
        const g = ctx.plan.gluster;
        if (!g) throw new Error("the plan has no Gluster volume");
        super("nextcloud-ha:index:GlusterVolume", name, { volume: g.volume, bricks: g.bricks.map((b) => ({ host: b.host, arbiter: b.arbiter })), createdBy: g.createdBy }, opts);
        this.hosts = placeHosts(this, ctx, [...ownedHosts(ctx, "gluster"), ...ownedHosts(ctx, "gluster-arbiter")]);
        const local = { ...placed, ...this.hosts };
        if (ctx.config.site === g.createdBy) {
            const creator = g.bricks.map((b) => hostByName(ctx.plan, b.host)).find((h) => h.site === g.createdBy)!;
            const script = renderVolumeScript(ctx.plan, creator);
            new command.remote.Command(
                `${name}-create`,
                {
                    connection: { host: creator.address, user: ctx.config.sshUser, dialErrorLimit: 60, perDialTimeout: 10 },
                    create: `sudo ${VOLUME_SCRIPT}`,
                    triggers: [createHash("sha256").update(script).digest("hex")],
                },
                { parent: this, dependsOn: Object.values(local).map((h) => h.vm) },
            );
        }
        this.volumeName = pulumi.output(g.volume);
        this.mountServers = pulumi.output(g.bricks.map((b) => hostByName(ctx.plan, b.host).address));
        this.registerOutputs({ volumeName: this.volumeName, mountServers: this.mountServers });
    }
}
