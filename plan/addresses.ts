/** IPv4 address arithmetic for the plan. Pure. */

/** The address as a 32-bit unsigned number, or undefined when it is not dotted IPv4. */
export function parseIpv4(address: string): number | undefined {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
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
