/** IPv4 address arithmetic for the plan. Pure. */

/** The address as a 32-bit unsigned number, or undefined when it is not dotted IPv4. */
export function parseIpv4(address: string): number | undefined {
    // No leading zeros: "010" is octal to some parsers and decimal to others.
    const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(address);
    if (!m) return undefined;
    const parts = m.slice(1).map(Number);
    if (parts.some((p) => p > 255)) return undefined;
    return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIpv4(n: number): string {
    return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export interface Cidr {
    network: string;
    prefix: number;
}

/** Parses "a.b.c.d/n"; undefined when malformed or when host bits are set. */
export function parseCidr(cidr: string): Cidr | undefined {
    const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
    if (!m) return undefined;
    const base = parseIpv4(m[1]);
    const prefix = Number(m[2]);
    if (base === undefined || prefix > 32) return undefined;
    if ((base & ~mask(prefix)) >>> 0 !== 0) return undefined;
    return { network: m[1], prefix };
}

function mask(prefix: number): number {
    return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** True when the address lies inside the CIDR. */
export function cidrContains(cidr: string, address: string): boolean {
    const c = parseCidr(cidr);
    const a = parseIpv4(address);
    if (!c || a === undefined) return false;
    const m = mask(c.prefix);
    return (a & m) >>> 0 === (parseIpv4(c.network)! & m) >>> 0;
}

/** Whether the address is the network's own address or its broadcast address (no host may have either). */
export function isNetworkOrBroadcast(cidr: string, address: string): boolean {
    const c = parseCidr(cidr);
    const a = parseIpv4(address);
    if (!c || a === undefined || c.prefix >= 31) return false;
    const m = mask(c.prefix);
    const net = (parseIpv4(c.network)! & m) >>> 0;
    return a === net || a === (net | ~m) >>> 0;
}

/** A host and port, e.g. the read-write endpoint a standby cluster follows. */
export interface Endpoint {
    host: string;
    port: number;
}

/** Parses "address:port" as the stacks export endpoints; throws naming the bad value. */
export function parseEndpoint(value: string): Endpoint {
    const m = /^([^:\s]+):(\d{1,5})$/.exec(value);
    if (!m || Number(m[2]) > 65535) throw new Error(`${JSON.stringify(value)} is not an address:port endpoint`);
    return { host: m[1], port: Number(m[2]) };
}

/** "address:port". */
export function formatEndpoint(e: Endpoint): string {
    return `${e.host}:${e.port}`;
}
