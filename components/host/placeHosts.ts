/**
 * Places hosts: issues each its TLS identity and SSH host key, renders everything the host
 * receives, and builds its VM with its bootstrap (cloud-init) and its converge steps (one per
 * service, render/converge.ts). Every component places its hosts through this; they differ
 * only in which hosts the plan says they build.
 */
import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { Endpoint } from "../../plan/addresses";
import { ProxmoxConfig } from "../../plan/config";
import { DeploymentPlan, hostByName, HostPlan } from "../../plan/plan";
import { renderCloudInit } from "../../render/cloudInit";
import { renderConverge } from "../../render/converge";
import { renderFirewall, sourceAddresses } from "../../render/firewall";
import { ETCD_AUTH_COMMAND, ETCD_AUTH_STEP, renderEtcdAuthStep } from "../../render/etcd";
import { needsTls, renderHost, secretPartsOf } from "../../render/host";
import { TlsCertificate } from "../../render/nginx";
import { ROLES_STEP, renderRolesStep } from "../../render/patroniCluster";
import { placeholderInputs, placeholderSecrets } from "../../render/placeholders";
import { TlsIdentity } from "../../render/rendered";
import { SecretsBundle } from "../../render/secrets";
import { ConvergeStep, ProxmoxHost } from "./proxmoxHost";

/** What placing a host needs besides the host itself; the same for every component of a stack. */
export interface Placement {
    /** The plan of all sites: a host's files name its peers in every site. */
    plan: DeploymentPlan;
    /** Where and how this stack's VMs are cloned (stack config `proxmox`). */
    proxmox: ProxmoxConfig;
    /** Public keys cloud-init authorises for the image's user (stack config `sshAuthorizedKeys`). */
    sshAuthorizedKeys: string[];
    /** The image's user that remote commands log in as, with the operator's SSH agent (stack config `sshUser`). */
    sshUser: string;
    /** The shared secrets (passwords; secret), from the SharedSecrets component: every part, or a sealed site's parts (its roles'), none on a sealed witness. */
    secrets?: pulumi.Output<Partial<SecretsBundle>>;
    /**
     * A host's TLS identity (render/host.ts `needsTls`): the primary stack issues it with the
     * deployment CA's key; the other stacks take the one the primary issued (the key stays there).
     */
    identity: (host: HostPlan, parent: pulumi.Resource) => pulumi.Output<TlsIdentity>;
    /** The wildcard certificate and key (the key secret); required where a host has the nginx role. */
    certificate?: pulumi.Output<TlsCertificate>;
    /** two-site standby: the read-write endpoint the primary stack exports, that the standby cluster follows. */
    replicationSource?: pulumi.Output<Endpoint>;
    /** Writes a known_hosts file (render/ssh.ts `knownHostsLine`) for a connection that pins a host key outside `remote.Command`; returns its path. The program's. */
    writeKnownHosts: (name: string, content: string) => string;
}

/** A part of the shared secrets, for a host or component that takes it (render/host.ts `secretPartsOf`); one line when the stack has none. */
export function passwordsOf<K extends keyof SecretsBundle>(
    placement: Placement,
    parent: pulumi.Resource,
    who: string,
    part: K,
): pulumi.Output<SecretsBundle[K]> {
    const missing = () =>
        new pulumi.ResourceError(
            `${who} takes the shared ${part} secrets, but this stack received none (its site reads its part sealed, and the primary sealed none for it)`,
            parent,
        );
    if (!placement.secrets) throw missing();
    return placement.secrets.apply((v) => {
        if (!v[part]) throw missing();
        return v[part];
    });
}

/** Builds the VMs of the named hosts as children of `parent`; returns them by host name. */
export function placeHosts(parent: pulumi.ComponentResource, placement: Placement, names: string[]): Record<string, ProxmoxHost> {
    const { plan } = placement;
    const placed: Record<string, ProxmoxHost> = {};
    const previous: Record<string, pulumi.Resource> = {};
    for (const host of names.map((n) => hostByName(plan, n))) {
        if (host.roles.includes("nginx") && !placement.certificate)
            throw new pulumi.ResourceError(`${host.name} runs NGINX but the stack has no wildcard certificate`, parent);
        const identity = needsTls(host) ? placement.identity(host, parent) : undefined;
        const parts = secretPartsOf(plan, host);
        const secrets =
            parts.length > 0
                ? pulumi.all(parts.map((p) => passwordsOf(placement, parent, host.name, p))).apply((v) => Object.fromEntries(parts.map((p, i) => [p, v[i]])))
                : undefined;
        // The host's SSH identity, made here: every remote step pins it, nothing trusts a first connection.
        const hostKey = new tls.PrivateKey(`${host.name}-ssh-host-key`, { algorithm: "ED25519" }, { parent });
        const rendered = pulumi
            .all([
                secrets,
                identity,
                host.roles.includes("nginx") ? placement.certificate : undefined,
                host.roles.includes("patroni") ? placement.replicationSource : undefined,
            ])
            .apply(([values, tlsIdentity, certificate, standbySource]) =>
                renderHost(plan, host, { secrets: values, tls: tlsIdentity, certificate, standbySource }),
            );
        const userData = pulumi.all([rendered, hostKey.privateKeyOpenssh, hostKey.publicKeyOpenssh]).apply(([r, privateKey, publicKey]) =>
            renderCloudInit(host, r, {
                sshAuthorizedKeys: placement.sshAuthorizedKeys,
                sshUser: placement.sshUser,
                hostKey: { privateKey, publicKey: publicKey.trim() },
            }),
        );
        // The services and their order do not depend on the secrets: placeholders give them.
        const specs = renderHost(plan, host, placeholderInputs(host)).services;
        const services = specs.map((s) => s.name);
        const units = rendered.apply((r) => renderConverge(host, r));
        const converge: ConvergeStep[] = specs.map((spec, i) => ({
            service: spec.name,
            script: pulumi.secret(units.apply((u) => u[i].script)),
            // Hashes only: the preview's diff names the file that changes, never its content.
            triggers: pulumi.unsecret(units.apply((u) => u[i].triggers)),
            after: previous[spec.name],
            // A member leaves its cluster (Patroni: hands over and stops; etcd: member remove) before Pulumi deletes its VM.
            ...(spec.leave ? { delete: `sudo ${spec.leave.join(" ")}` } : {}),
        }));
        // A password changes on the primary before any file holding it does: the roles step goes before this host's Patroni step,
        // which every other member's and (through the components' order) the app's converge steps wait for.
        const owned = plan.patroniClusters.find((c) => c.configuredBy === host.name && !c.standbyOf);
        if (owned) {
            // Its command and triggers do not depend on the secrets either.
            const shape = renderRolesStep(plan, owned, placeholderSecrets().database);
            converge.splice(services.indexOf("patroni"), 0, {
                service: ROLES_STEP,
                command: shape.command,
                script: pulumi.secret(passwordsOf(placement, parent, host.name, "database").apply((v) => renderRolesStep(plan, owned, v).script)),
                triggers: shape.triggers,
            });
        }
        // etcd's users and auth (etcd.auth) on the member that configures its cluster: after its etcd step, before anything
        // after it on the host (two-site: its Patroni); the Patroni component waits for the etcd component (plan WAITS_FOR).
        const configures = plan.etcd.auth ? plan.etcdClusters.find((c) => c.configuredBy === host.name) : undefined;
        if (configures) {
            const step = pulumi
                .all([passwordsOf(placement, parent, host.name, "etcd"), passwordsOf(placement, parent, host.name, "database")])
                .apply(([root, database]) => renderEtcdAuthStep(plan, configures, { root, database }));
            converge.splice(converge.findIndex((c) => c.service === "etcd") + 1, 0, {
                service: ETCD_AUTH_STEP,
                command: ETCD_AUTH_COMMAND,
                script: pulumi.secret(step.apply((s) => s.script)),
                // The script's hash among them: its passwords are in it (a rotation of the Patroni users' reruns it).
                triggers: pulumi.unsecret(step.apply((s) => s.triggers)),
            });
        }
        const placedHost = new ProxmoxHost(
            host.name,
            {
                host,
                proxmox: placement.proxmox,
                userData: pulumi.secret(userData),
                hostKey: hostKey.publicKeyOpenssh.apply((k) => k.trim()),
                sshUser: placement.sshUser,
                firewall: renderFirewall(plan, host),
                sourceAddresses: sourceAddresses(plan, host),
                networks: [...new Set([...plan.networks, ...plan.managementNetworks])],
                converge,
            },
            { parent },
        );
        // One host at a time per service: the next host's step waits for this one's.
        for (const [service, step] of Object.entries(placedHost.converged)) previous[service] = step;
        placed[host.name] = placedHost;
    }
    return placed;
}
