/**
 * One small HTTP client for the tools that talk to the cluster's REST endpoints (Patroni,
 * etcd, HAProxy stats): the lab and the site commands. Never throws on an HTTP status;
 * rejects when nothing answers in time.
 */
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";

export interface HttpAnswer {
    status: number;
    body: string;
}

/** A TLS client's side: the CAs it trusts, and the certificate it presents if any. */
export interface TlsClient {
    ca: Buffer;
    cert?: Buffer;
    key?: Buffer;
}

export interface HttpOptions {
    method?: "GET" | "POST" | "PATCH";
    /** Sent as JSON. */
    body?: unknown;
    /** Basic auth as `user:password`. */
    auth?: string;
    timeoutMs?: number;
    /** The CAs to trust, and a client certificate to present (where the server asks for one). */
    tls?: TlsClient;
}

export function httpRequest(url: string, opts: HttpOptions = {}): Promise<HttpAnswer> {
    const timeoutMs = opts.timeoutMs ?? 1500;
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    return new Promise((resolve, reject) => {
        const lib = url.startsWith("https:") ? https : http;
        const req = lib.request(
            url,
            {
                method: opts.method ?? "GET",
                timeout: timeoutMs,
                agent: false,
                ...(opts.auth ? { auth: opts.auth } : {}),
                ...(opts.tls ?? {}),
                headers: payload === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
            },
            (res) => {
                let body = "";
                res.on("data", (c) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            },
        );
        req.on("timeout", () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs} ms`)));
        req.on("error", reject);
        req.end(payload);
    });
}

/** True when something accepts a TCP connection at address:port within the timeout. */
export function tcpOpen(address: string, port: number, timeoutMs = 1000): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host: address, port, timeout: timeoutMs });
        s.on("connect", () => (s.destroy(), resolve(true)));
        s.on("timeout", () => (s.destroy(), resolve(false)));
        s.on("error", () => resolve(false));
    });
}
