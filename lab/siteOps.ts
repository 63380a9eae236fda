/**
 * The site commands' transport in the lab: Patroni's REST API over the lab's management
 * link, commands inside the host's namespaces. The same promote/rejoin steps as on the VMs.
 */
import { DB_USERS } from "../render/patroni";
import { httpRequest, tcpOpen } from "../ops/http";
import { SiteTransport } from "../ops/siteMove";
import { HostPlan } from "../plan/plan";
import { execInHost } from "./hosts";
import { labSecrets } from "./secrets";
import { LabState } from "./state";

export function labTransport(state: LabState): SiteTransport {
    return {
        async patroni(host: HostPlan, method, path, body) {
            const url = `http://${host.address}:${state.plan.ports.patroniRest}${path}`;
            try {
                return await httpRequest(url, {
                    method,
                    body,
                    timeoutMs: 3000,
                    ...(method === "GET" ? {} : { auth: `${DB_USERS.restApi}:${labSecrets().database.restApiPassword}` }),
                });
            } catch {
                return undefined;
            }
        },
        tcpOpen: (address, port) => tcpOpen(address, port),
        async run(host, argv, opts = {}) {
            const holder = state.holders[host.name];
            if (holder === undefined) return { status: 255, stdout: "", stderr: `${host.name} is not running` };
            return execInHost(holder, host.name, argv, opts.timeoutMs ?? 60000, { user: opts.user, input: opts.stdin });
        },
    };
}
