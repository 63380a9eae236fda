/**
 * Everything one host of the plan receives, whatever its roles: the one entry point the
 * Pulumi components, the render CLI and the lab all call. Pure.
 */
import { DeploymentPlan, HostPlan } from "../plan/plan";
import { renderEtcdMember } from "./etcd";
import { DatabaseSecrets, Endpoint, mergeRendered, RenderedHost, TlsIdentity } from "./rendered";
import { renderGlusterBrick } from "./gluster";
import { renderHaproxy } from "./haproxy";
import { renderKeepalived } from "./keepalived";
import { renderNginx, TlsCertificate } from "./nginx";
import { NextcloudSecrets, renderNextcloudNode } from "./nextcloud";
import { renderPatroniMember } from "./patroni";

export interface HostInputs {
    /** The passwords of the Patroni cluster; needed by hosts with the patroni role. */
    database?: DatabaseSecrets;
    /** The host's etcd TLS identity; needed by hosts with the etcd or patroni role. */
    tls?: TlsIdentity;
    /** The site's wildcard certificate; needed by hosts with the nginx role. */
    certificate?: TlsCertificate;
    /** What every Nextcloud node shares; needed by hosts with the nextcloud role. */
    nextcloud?: NextcloudSecrets;
    /** two-site standby: the endpoint to follow, as the primary stack exports it (default: the plan's). */
    standbySource?: Endpoint;
}

/** True when the host talks to etcd and so needs a certificate from the deployment CA. */
export function needsTls(host: HostPlan): boolean {
    return host.roles.includes("etcd") || host.roles.includes("patroni");
}

export function renderHost(plan: DeploymentPlan, host: HostPlan, inputs: HostInputs): RenderedHost {
    const need = <T>(value: T | undefined, what: string): T => {
        if (value === undefined) throw new Error(`rendering ${host.name} (${host.roles.join(", ")}) needs ${what}`);
        return value;
    };
    return mergeRendered(
        host.roles.map((role) => {
            switch (role) {
                case "etcd":
                    return renderEtcdMember(plan, host, need(inputs.tls, "a TLS identity"));
                case "patroni":
                    return renderPatroniMember(plan, host, need(inputs.database, "the database secrets"), need(inputs.tls, "a TLS identity"), inputs.standbySource);
                case "haproxy":
                    return renderHaproxy(plan, host);
                case "nginx": {
                    const nginx = renderNginx(plan, host, need(inputs.certificate, "the wildcard certificate"));
                    return plan.sites.find((s) => s.name === host.site)?.vip ? mergeRendered([nginx, renderKeepalived(plan, host)]) : nginx;
                }
                case "gluster":
                case "gluster-arbiter":
                    return renderGlusterBrick(plan, host);
                case "nextcloud":
                    return renderNextcloudNode(plan, host, need(inputs.nextcloud, "the Nextcloud secrets"));
                default: {
                    const never: never = role;
                    throw new Error(`no renderer for role ${String(never)}`);
                }
            }
        }),
    );
}
