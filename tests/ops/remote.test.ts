/**
 * The SSH transport of the site commands, with a ProxyCommand that fails at once, so that ssh
 * exits without reading its input, as it does when a cut-off site does not answer. No packet
 * leaves the machine.
 */
import { remoteTransport } from "../../ops/remote";
import { HostPlan } from "../../plan/plan";

const host = { name: "dc1-db1", address: "127.0.0.1" } as HostPlan;
const unreachable = ["-o", "ProxyCommand=sh -c 'echo No route to host >&2; exit 1'", "-F", "/dev/null"];

describe("remoteTransport", () => {
    test("a host whose ssh exits before reading stdin is an unanswered host, not an EPIPE thrown at the caller", async () => {
        const transport = remoteTransport("debian", unreachable);
        // Larger than a pipe's buffer, so the write cannot complete before ssh exits.
        const r = await transport.run(host, ["true"], { stdin: "x".repeat(1 << 20) });
        expect(r.status).toBe(255);
        expect(r.stderr).toContain("No route to host");
        expect(await transport.patroni(host, "GET", "/patroni")).toBeUndefined();
    });
});
