/**
 * NextcloudTier: this site's app nodes, and on each the containers renderNextcloudContainers
 * describes, driven by @pulumi/docker over SSH. Install happens once: on the installer node
 * (the primary site's first app node), and every other node of the site waits until
 * Nextcloud reports itself installed; other sites deploy after the primary's stack.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { hostsOf } from "../plan/plan";
import { ownedHosts, placeHosts, SiteContext } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";
import { containerShapes, ContainerSpec, installerOf, renderNextcloudContainers, renderWaitInstalled } from "../render/nextcloud";

export class NextcloudTier extends pulumi.ComponentResource {
    /** `address:8080` of each app node of the site, what NGINX proxies to. */
    readonly appEndpoints: pulumi.Output<string[]>;
    readonly installer: pulumi.Output<string>;
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, ctx: SiteContext, opts?: pulumi.ComponentResourceOptions) {
        const apps = hostsOf(ctx.plan, ctx.config.site, "nextcloud");
        if (apps.length === 0) throw new Error(`site ${ctx.config.site} has no Nextcloud app node`);
        const installer = installerOf(ctx.plan);
        super("nextcloud-ha:index:NextcloudTier", name, { site: ctx.config.site, image: ctx.plan.nextcloud.image, nodes: apps.map((a) => a.name), installer: installer.name }, opts);
        this.hosts = placeHosts(this, ctx, ownedHosts(ctx, "nextcloud"));
        const nextcloud = ctx.secrets.values.apply((v) => v.nextcloud);
        let installed: pulumi.Resource | undefined;
        // The installer first, so the others can wait for it.
        for (const host of [...apps].sort((a, b) => Number(b.name === installer.name) - Number(a.name === installer.name))) {
            const vm = this.hosts[host.name]?.vm;
            const provider = new docker.Provider(
                `${host.name}-docker`,
                { host: `ssh://${ctx.config.sshUser}@${host.address}`, sshOpts: ["-o", "StrictHostKeyChecking=accept-new"] },
                { parent: this, dependsOn: vm ? [vm] : [] },
            );
            const specs = nextcloud.apply((s) => renderNextcloudContainers(ctx.plan, host, s));
            const shapes = containerShapes(ctx.plan, host);
            const images = new Map<string, docker.RemoteImage>();
            const containers: docker.Container[] = [];
            shapes.forEach((shape, i) => {
                if (!images.has(shape.image)) {
                    images.set(shape.image, new docker.RemoteImage(`${host.name}-${shape.image.replace(/[^a-z0-9]+/g, "-")}`, { name: shape.image, keepLocally: true }, { parent: this, provider }));
                }
                const spec = specs.apply((all) => all[i]);
                const wrap = <T>(v: pulumi.Output<T>) => (shape.secret ? pulumi.secret(v) : v);
                containers.push(
                    new docker.Container(
                        `${host.name}-${shape.name}`,
                        {
                            name: shape.name,
                            image: images.get(shape.image)!.imageId,
                            restart: "unless-stopped",
                            envs: wrap(spec.apply((c: ContainerSpec) => Object.entries(c.env).map(([k, v]) => `${k}=${v}`))),
                            command: shape.command ? wrap(spec.apply((c: ContainerSpec) => c.command!)) : undefined,
                            entrypoints: shape.entrypoint,
                            ports: shape.ports,
                            volumes: shape.mounts.filter((m) => m.volume).map((m) => ({ volumeName: m.source, containerPath: m.target })),
                            mounts: shape.mounts.filter((m) => !m.volume).map((m) => ({ type: "bind", source: m.source, target: m.target, readOnly: m.readOnly ?? false })),
                        },
                        // In order (Redis, Nextcloud, cron); on the other nodes, after the installation.
                        { parent: this, provider, dependsOn: [...containers, ...(installed ? [installed] : [])] },
                    ),
                );
            });
            if (host.name === installer.name) {
                installed = new command.remote.Command(
                    `${host.name}-wait-installed`,
                    {
                        connection: { host: host.address, user: ctx.config.sshUser, dialErrorLimit: 60 },
                        create: renderWaitInstalled(ctx.plan),
                    },
                    { parent: this, dependsOn: containers },
                );
            }
        }
        this.appEndpoints = pulumi.output(apps.map((a) => `${a.address}:${ctx.plan.ports.nextcloud}`));
        this.installer = pulumi.output(installer.name);
        this.registerOutputs({ appEndpoints: this.appEndpoints, installer: this.installer });
    }
}
