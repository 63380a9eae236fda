/**
 * Renders keepalived for a site with two NGINX nodes: one VRRP instance (unicast, so it
 * works on networks without multicast) that holds the site's VIP on a node whose NGINX
 * runs, and moves it when that node or its NGINX dies. Pure.
 */
import { DeploymentPlan, HostPlan, hostsOf } from "../plan/plan";
import { RenderedHost } from "./rendered";

export const KEEPALIVED_CONFIG = "/etc/keepalived/keepalived.conf";

export function renderKeepalivedConfig(plan: DeploymentPlan, host: HostPlan): string {
    const siteIndex = plan.sites.findIndex((s) => s.name === host.site);
    const vip = plan.sites[siteIndex].vip;
    if (!vip) throw new Error(`site ${host.site} has no VIP for keepalived`);
    const peers = hostsOf(plan, { site: host.site, role: "nginx" });
    const rank = peers.findIndex((h) => h.name === host.name);
    return [
        `# keepalived ${host.name}: VIP ${vip.address} for ${peers.map((p) => p.name).join(", ")}; rendered by nextcloud-ha`,
        "global_defs {",
        `    router_id ${host.name}`,
        "    enable_script_security",
        "    script_user root",
        "}",
        "",
        "vrrp_script nginx_running {",
        '    script "/usr/bin/pgrep -x nginx"',
        "    interval 2",
        "    fall 2",
        "    rise 2",
        "}",
        "",
        `vrrp_instance nextcloud_${host.site.replace(/-/g, "_")} {`,
        "    state BACKUP",
        `    interface ${vip.interface}`,
        `    virtual_router_id ${51 + siteIndex}`,
        `    priority ${150 - 50 * Math.min(rank, 2)}`,
        "    advert_int 1",
        `    unicast_src_ip ${host.address}`,
        "    unicast_peer {",
        ...peers.filter((p) => p.name !== host.name).map((p) => `        ${p.address}`),
        "    }",
        "    virtual_ipaddress {",
        `        ${vip.address}/${host.prefix} dev ${vip.interface}`,
        "    }",
        "    track_script {",
        "        nginx_running",
        "    }",
        "}",
        "",
    ].join("\n");
}

export function renderKeepalived(plan: DeploymentPlan, host: HostPlan): RenderedHost {
    return {
        files: [{ path: KEEPALIVED_CONFIG, content: renderKeepalivedConfig(plan, host), mode: "0640", owner: "root:root" }],
        services: [
            {
                name: "keepalived",
                unit: "keepalived.service",
                user: "root",
                command: ["/usr/sbin/keepalived", "--dont-fork", "--log-console", "-f", KEEPALIVED_CONFIG],
                apply: { kind: "reload", check: `keepalived --config-test -f ${KEEPALIVED_CONFIG}` },
                update: { generation: plan.packages.update, packages: ["keepalived"], then: { kind: "restart" } },
            },
        ],
        packages: ["keepalived"],
    };
}
