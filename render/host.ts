/**
 * Everything one host of the plan receives, whatever its roles: the one entry point the
 * Pulumi components, the render CLI and the lab all call. Pure.
 */
import { Endpoint } from "../plan/addresses";
import { Role, ROLES } from "../plan/config";
import { DeploymentPlan, haproxiesOf, HostPlan, patroniClusterOf, siteByName } from "../plan/plan";
import { etcdRoleNames, renderEtcdMember } from "./etcd";
import { mergeRendered, RenderedHost, TlsIdentity } from "./rendered";
import { SecretsBundle } from "./secrets";
import { renderGlusterBrick, renderGlusterTls, usesVolume } from "./gluster";
import { renderHaproxy } from "./haproxy";
import { renderKeepalived } from "./keepalived";
import { renderNginx, TlsCertificate } from "./nginx";
import { renderNextcloudNode } from "./nextcloud";
import { renderPatroniMember } from "./patroni";

export interface HostInputs {
    /** The shared secrets; the parts its roles take (`secretPartsOf`), each renderer its own. */
    secrets?: Partial<SecretsBundle>;
    /** The host's TLS identity (its certificate, key and the trusted CAs); needed by hosts that `needsTls`. */
    tls?: TlsIdentity;
    /** The site's wildcard certificate; needed by hosts with the nginx role. */
    certificate?: TlsCertificate;
    /** two-site standby: the endpoint to follow, as the primary stack exports it (default: the plan's). */
    standbySource?: Endpoint;
}

/**
 * True when the host needs a TLS identity (key and certificate) from the deployment CA, and with
 * it the trusted CAs: etcd's members and clients, PostgreSQL's servers, GlusterFS's servers and
 * clients (bricks, app hosts), HAProxy (its stats page; its checks verify Patroni's REST API).
 */
export function needsTls(host: HostPlan): boolean {
    return (["etcd", "patroni", "haproxy", "gluster", "gluster-arbiter", "nextcloud"] as const).some((r) => host.roles.includes(r));
}

/** The parts of the shared secrets each role's renderers take. */
const SECRET_PARTS: Partial<Record<Role, keyof SecretsBundle>> = { patroni: "database", haproxy: "haproxy", nextcloud: "nextcloud" };

/**
 * The parts of the shared secrets a host's renderers take: the database's (Patroni), HAProxy's,
 * the app's; with `etcd.auth` an etcd member etcd's root password, and the member that runs its
 * cluster's auth step the database's too (it sets the Patroni clusters' etcd passwords).
 */
export function secretPartsOf(plan: DeploymentPlan, host: Pick<HostPlan, "name" | "roles">): (keyof SecretsBundle)[] {
    const auth = plan.etcd.auth && host.roles.includes("etcd");
    const configures = auth && plan.etcdClusters.some((c) => c.configuredBy === host.name);
    return [
        ...new Set([...host.roles.flatMap((r) => SECRET_PARTS[r] ?? []), ...(auth ? (["etcd"] as const) : []), ...(configures ? (["database"] as const) : [])]),
    ];
}

/** What a host's certificate names (its SANs): the one list the program's and the lab's CA sign. */
export interface CertificateNames {
    /** Its subject's common name, where one is carried (`certificateNames`); without, the subject is `O=nextcloud-ha`. */
    commonName?: string;
    dnsNames: string[];
    ipAddresses: string[];
}

/**
 * A host's name and addresses (its management address: HAProxy's stats page listens there), and
 * loopback (local clients verify the name they connect to). A
 * Patroni member's also names every HAProxy routing to its cluster: a client that connects
 * through one (the app, another site's standby cluster) sees the member's certificate under
 * HAProxy's address, and `sslmode=verify-full` checks that address against it.
 */
export function certificateNames(plan: DeploymentPlan, host: HostPlan): CertificateNames {
    const via = host.roles.includes("patroni") ? haproxiesOf(plan, patroniClusterOf(plan, host.name).scope).map((h) => h.address) : [];
    return {
        // With etcd.auth, etcd's JSON gateway refuses a client certificate with a common name: only the hosts GlusterFS admits by theirs carry one.
        ...(!plan.etcd.auth || usesVolume(plan, host) ? { commonName: host.name } : {}),
        dnsNames: [host.name, "localhost", ...etcdRoleNames(plan, host)],
        ipAddresses: [...new Set([host.address, host.managementAddress, "127.0.0.1", ...via])],
    };
}

export function renderHost(plan: DeploymentPlan, host: HostPlan, inputs: HostInputs): RenderedHost {
    const need = <T>(value: T | undefined, what: string): T => {
        if (value === undefined) throw new Error(`rendering ${host.name} (${host.roles.join(", ")}) needs ${what}`);
        return value;
    };
    // In ROLES' order, whatever order the stack file lists them in: a host's services start in it (etcd
    // before Patroni, which needs it) and leave in its reverse (Patroni hands over before etcd's member goes).
    const parts = ROLES.filter((role) => host.roles.includes(role)).map((role) => {
        switch (role) {
            case "etcd":
                return renderEtcdMember(
                    plan,
                    host,
                    need(inputs.tls, "a TLS identity"),
                    plan.etcd.auth ? need(inputs.secrets?.etcd, "etcd's root password") : undefined,
                );
            case "patroni":
                return renderPatroniMember(
                    plan,
                    host,
                    need(inputs.secrets?.database, "the database's passwords"),
                    need(inputs.tls, "a TLS identity"),
                    inputs.standbySource,
                );
            case "haproxy":
                return renderHaproxy(plan, host, need(inputs.tls, "a TLS identity"), need(inputs.secrets?.haproxy, "HAProxy's stats password"));
            case "nginx": {
                const nginx = renderNginx(plan, host, need(inputs.certificate, "the wildcard certificate"));
                return siteByName(plan, host.site).vip ? mergeRendered([nginx, renderKeepalived(plan, host)]) : nginx;
            }
            case "gluster":
            case "gluster-arbiter":
                return renderGlusterBrick(plan, host);
            case "nextcloud":
                return renderNextcloudNode(plan, host, need(inputs.secrets?.nextcloud, "the app's secrets"), need(inputs.tls, "a TLS identity").caCert);
            default: {
                const never: never = role;
                throw new Error(`no renderer for role ${String(never)}`);
            }
        }
    });
    // GlusterFS's TLS identity once per host, whether it holds a brick, mounts the volume, or both.
    return mergeRendered(usesVolume(plan, host) ? [...parts, renderGlusterTls(plan, host, need(inputs.tls, "a TLS identity"))] : parts);
}
