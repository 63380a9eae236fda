/**
 * Renders NGINX in front of a site's Nextcloud app nodes: TLS 1.2+ with the wildcard
 * certificate (Mozilla's intermediate profile, no session tickets, no version), HSTS, timeouts and body size for large uploads, an upstream over the site's
 * app nodes with passive health checks (a node that fails is skipped for a while), and
 * /status.php passed through for monitoring. Only the site's own app nodes: there is no
 * load balancing across datacenters. Pure.
 */
import { DeploymentPlan, HostPlan, hostsOf } from "../plan/plan";
import { RenderedHost } from "./rendered";

export const NGINX_SITE = "/etc/nginx/sites-enabled/nextcloud.conf";
export const TLS_DIR = "/etc/nginx/tls";

/** The wildcard certificate and key (from the stack's secrets). */
export interface TlsCertificate {
    cert: string;
    key: string;
}

/** TLS 1.2's ciphers of Mozilla's intermediate profile; TLS 1.3's are OpenSSL's defaults. */
export const INTERMEDIATE_CIPHERS = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "DHE-RSA-CHACHA20-POLY1305",
].join(":");

export function renderNginxSite(plan: DeploymentPlan, host: HostPlan): string {
    const apps = hostsOf(plan, { site: host.site, role: "nextcloud" });
    if (apps.length === 0) throw new Error(`site ${host.site} has no Nextcloud app node for ${host.name} to serve`);
    const nc = plan.nextcloud;
    const p = plan.ports;
    return [
        `# NGINX ${host.name} (site ${host.site}) in front of ${apps.map((a) => a.name).join(", ")}; rendered by nextcloud-ha`,
        "upstream nextcloud {",
        ...apps.map((a) => `    server ${a.address}:${p.nextcloud} max_fails=3 fail_timeout=10s;`),
        "    keepalive 32;",
        "}",
        "",
        "server {",
        `    listen ${p.http} default_server;`,
        `    server_name ${nc.trustedDomains.join(" ")};`,
        "    return 301 https://$host$request_uri;",
        "}",
        "",
        "server {",
        `    listen ${p.https} ssl default_server;`,
        "    http2 on;",
        `    server_name ${nc.trustedDomains.join(" ")};`,
        `    ssl_certificate ${TLS_DIR}/wildcard.crt;`,
        `    ssl_certificate_key ${TLS_DIR}/wildcard.key;`,
        // Mozilla's "intermediate" profile (ssl-config.mozilla.org, guidelines 5.7).
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        `    ssl_ciphers ${INTERMEDIATE_CIPHERS};`,
        "    ssl_prefer_server_ciphers off;",
        "    ssl_session_cache shared:SSL:10m;",
        "    ssl_session_timeout 1d;",
        "    ssl_session_tickets off;",
        "    server_tokens off;",
        // Nextcloud sets its own security headers (X-Content-Type-Options, Referrer-Policy, X-Frame-Options,
        // X-Robots-Tag, ...): added here too they arrive twice and fail its setup check. HSTS is the proxy's.
        '    add_header Strict-Transport-Security "max-age=31536000; includeSubDomains" always;',
        "    proxy_hide_header X-Powered-By;",
        `    client_max_body_size ${nc.maxUploadSize};`,
        "    client_body_buffer_size 512k;",
        "    proxy_request_buffering off;",
        "    proxy_buffering off;",
        "    proxy_connect_timeout 5s;",
        "    proxy_send_timeout 3600s;",
        "    proxy_read_timeout 3600s;",
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $host;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto https;",
        "    proxy_next_upstream error timeout http_502 http_503 http_504;",
        "    proxy_next_upstream_tries 2;",
        "",
        "    location = /status.php {",
        "        proxy_pass http://nextcloud;",
        "        access_log off;",
        "    }",
        "    location = /.well-known/carddav { return 301 /remote.php/dav/; }",
        "    location = /.well-known/caldav { return 301 /remote.php/dav/; }",
        "    location / {",
        "        proxy_pass http://nextcloud;",
        "    }",
        "}",
        "",
    ].join("\n");
}

/** The files, service and packages of one NGINX node. */
export function renderNginx(plan: DeploymentPlan, host: HostPlan, tls: TlsCertificate): RenderedHost {
    return {
        files: [
            { path: NGINX_SITE, content: renderNginxSite(plan, host), mode: "0644", owner: "root:root" },
            { path: "/etc/nginx/sites-enabled/default", content: "# replaced by nextcloud.conf (nextcloud-ha)\n", mode: "0644", owner: "root:root" },
            { path: `${TLS_DIR}/wildcard.crt`, content: tls.cert, mode: "0644", owner: "root:root" },
            { path: `${TLS_DIR}/wildcard.key`, content: tls.key, mode: "0600", owner: "root:root" },
        ],
        services: [
            {
                name: "nginx",
                unit: "nginx.service",
                user: "root",
                command: ["/usr/sbin/nginx", "-g", "daemon off; master_process on;"],
                apply: { kind: "reload", check: "nginx -t -q" },
                // A reload keeps the old binary: a restart (the site's other NGINX, or keepalived's VIP, serves meanwhile).
                update: { generation: plan.packages.update, packages: ["nginx"], then: { kind: "restart" } },
            },
        ],
        packages: ["nginx"],
    };
}
