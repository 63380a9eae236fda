/**
 * Everything one host of the plan receives, whatever its roles: the one entry point the
 * Pulumi components, the render CLI and the lab all call. Pure.
 */
import { Endpoint } from "../plan/addresses";
import { DeploymentPlan, HostPlan, siteByName } from "../plan/plan";
import { renderEtcdMember } from "./etcd";
import { mergeRendered, RenderedHost, TlsIdentity } from "./rendered";
import { SecretsBundle } from "./secrets";
import { renderGlusterBrick } from "./gluster";
import { renderHaproxy } from "./haproxy";
import { renderKeepalived } from "./keepalived";
import { renderNginx, TlsCertificate } from "./nginx";
import { renderNextcloudNode } from "./nextcloud";
import { renderPatroniMember } from "./patroni";

export interface HostInputs {
    /** The shared secrets; needed by hosts with the patroni or nextcloud role (each renderer takes its part). */
    secrets?: SecretsBundle;
    /** The host's etcd TLS identity; needed by hosts with the etcd or patroni role. */
    tls?: TlsIdentity;
    /** The site's wildcard certificate; needed by hosts with the nginx role. */
    certificate?: TlsCertificate;
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
                    return renderPatroniMember(
                        plan,
                        host,
                        need(inputs.secrets, "the shared secrets").database,
                        need(inputs.tls, "a TLS identity"),
                        inputs.standbySource,
                    );
                case "haproxy":
                    return renderHaproxy(plan, host);
                case "nginx": {
                    const nginx = renderNginx(plan, host, need(inputs.certificate, "the wildcard certificate"));
                    return siteByName(plan, host.site).vip ? mergeRendered([nginx, renderKeepalived(plan, host)]) : nginx;
                }
                case "gluster":
                case "gluster-arbiter":
                    return renderGlusterBrick(plan, host);
                case "nextcloud":
                    return renderNextcloudNode(plan, host, need(inputs.secrets, "the shared secrets").nextcloud);
                default: {
                    const never: never = role;
                    throw new Error(`no renderer for role ${String(never)}`);
                }
            }
        }),
    );
}
