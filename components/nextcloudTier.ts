/**
 * NextcloudTier: this site's app nodes, and on each the containers renderNextcloudContainers
 * describes, driven by @pulumi/docker over SSH. Install happens once: on the plan's installer
 * (the primary site's first app node), and every other node of that site waits until
 * Nextcloud reports itself installed; other sites deploy after the primary's stack.
 */
import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AppPlan, ComponentPlan, hostByName, namesOf, SitePlan } from "../plan/plan";
import { containerShapes, ContainerSpec, renderNextcloudContainers, renderWaitInstalled } from "../render/nextcloud";
import { knownHostsLine, pinnedSshOptions } from "../render/ssh";
import { passwordsOf, Placement, placeHosts } from "./host/placeHosts";
import { ProxmoxHost } from "./host/proxmoxHost";

export interface NextcloudTierArgs {
    /** The site (plan `sites[]`): its app nodes, its database endpoint, its Redis host. */
    site: SitePlan;
    /** The deployment's installer and cron hosts (plan `app`). */
    app: AppPlan;
    /** This site's nextcloud component (plan `sites[].components`): the app hosts whose VM it places, and those another component places. */
    component: ComponentPlan;
    /** The VMs of `component.uses`, placed by other components of this stack: their containers wait for them. */
    usedHosts: Record<string, ProxmoxHost>;
    /** How a host is placed: the plan, the stack's Proxmox and SSH settings, the secrets. */
    placement: Placement;
    /** The image's user that Docker and remote commands log in as over SSH (stack config `sshUser`). */
    sshUser: string;
}

export class NextcloudTier extends pulumi.ComponentResource {
    /** `address:8080` of each app node of the site, what NGINX proxies to. */
    readonly appEndpoints: pulumi.Output<string[]>;
    readonly installer: pulumi.Output<string>;
    /** The VMs this component placed, by host name. */
    readonly hosts: Record<string, ProxmoxHost>;

    constructor(name: string, args: NextcloudTierArgs, opts?: pulumi.ComponentResourceOptions) {
        const { site, app, component, placement, sshUser } = args;
        const { plan } = placement;
        const apps = namesOf(plan, { site: site.name, role: "nextcloud" }).map((n) => hostByName(plan, n));
        super(
            "nextcloud-ha:index:NextcloudTier",
            name,
            { site: site.name, image: plan.nextcloud.image, nodes: apps.map((a) => a.name), installer: app.installer },
            opts,
        );
        this.hosts = placeHosts(this, placement, component.builds);
        const vms = { ...args.usedHosts, ...this.hosts };
        const nextcloud = passwordsOf(placement, this, `the app tier of ${site.name}`, "nextcloud");
        let installed: pulumi.Resource | undefined;
        // The installer first, so the others can wait for it.
        for (const host of [...apps].sort((a, b) => Number(b.name === app.installer) - Number(a.name === app.installer))) {
            const vm = vms[host.name];
            if (!vm) throw new pulumi.ResourceError(`no VM for app node ${host.name}: it is neither placed here nor handed over in usedHosts`, this);
            // A fenced site's VMs are off on purpose: no container is placed there.
            if (host.fenced) continue;
            const provider = new docker.Provider(
                `${host.name}-docker`,
                // The VM's host key, pinned as every remote step pins it: never trusted on first use.
                {
                    host: `ssh://${sshUser}@${host.address}`,
                    sshOpts: pulumi
                        .output(vm.connection.hostKey)
                        .apply((key) => pinnedSshOptions(placement.writeKnownHosts(`${sshUser}@${host.address}`, knownHostsLine(host.address, key)))),
                },
                // Once the host has its files: the Gluster mount, config.php, the hooks, Docker itself.
                { parent: this, dependsOn: Object.values(vm.converged) },
            );
            const specs = nextcloud.apply((s) => renderNextcloudContainers(plan, host, s));
            const images = new Map<string, docker.RemoteImage>();
            const containers: docker.Container[] = [];
            containerShapes(plan, host).forEach((shape, i) => {
                if (!images.has(shape.image)) {
                    images.set(
                        shape.image,
                        new docker.RemoteImage(
                            `${host.name}-${shape.image.replace(/[^a-z0-9]+/g, "-")}`,
                            { name: shape.image, keepLocally: true },
                            { parent: this, provider },
                        ),
                    );
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
                            mounts: shape.mounts
                                .filter((m) => !m.volume)
                                .map((m) => ({ type: "bind", source: m.source, target: m.target, readOnly: m.readOnly ?? false })),
                        },
                        // In order (Redis, Nextcloud, cron); on the other nodes, after the installation. A
                        // container has a fixed name: a replacement (a rotated password in its environment
                        // or command) must remove the old one first, or Docker refuses the name.
                        { parent: this, provider, dependsOn: [...containers, ...(installed ? [installed] : [])], deleteBeforeReplace: true },
                    ),
                );
            });
            if (host.name === app.installer) {
                installed = new command.remote.Command(
                    `${host.name}-wait-installed`,
                    { connection: vm.connection, create: renderWaitInstalled(plan) },
                    { parent: this, dependsOn: containers },
                );
            }
        }
        this.appEndpoints = pulumi.output(apps.map((a) => `${a.address}:${plan.ports.nextcloud}`));
        this.installer = pulumi.output(app.installer);
        this.registerOutputs({ appEndpoints: this.appEndpoints, installer: this.installer });
    }
}
