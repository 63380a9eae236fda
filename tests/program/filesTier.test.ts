/** The files tier under mocks: brick VMs with data disks, and the volume created by the last site's stack. */
import { review } from "../../policies/rules";
import { readStackConfig } from "../../plan/stackFiles";
import { filesTierConfig } from "../helpers/configs";
import { reviewed, runProgram, valueOf } from "../helpers/mocks";

async function runStack(stack: string) {
    const files: any = filesTierConfig();
    return runProgram(stack, {
        sites: files.sites,
        nextcloud: files.nextcloud,
        ...(stack === "dc1" ? {} : { primaryStack: readStackConfig(stack).primaryStack }),
    });
}

test("dc3 (last brick site): the arbiter on the witness gets its disk, and the volume is created there once the peers are up", async () => {
    const { run, program, declared, waitsFor } = await runStack("dc3");
    const vm = run.byType("proxmoxve:index/vmLegacy:VmLegacy").find((v) => v.inputs.name === "dc3-etcd1")!.inputs as any;
    expect(vm.disks.map((d: any) => [d.interface, d.size])).toEqual([
        ["scsi0", 32],
        ["scsi1", 20],
    ]);
    const create = run.byType("command:remote:Command").filter((c) => c.name.endsWith("-create"));
    expect(create).toHaveLength(1);
    // The script goes with the command, as rendered now, on stdin.
    expect(create[0].inputs.create).toBe("sudo sh -s");
    expect(create[0].inputs.stdin).toContain("volume create nextcloud replica 2 arbiter 1");
    // The command provider's schema marks the whole connection secret; the host key is pinned.
    expect((create[0].inputs.connection as any).value).toMatchObject({
        host: "10.10.3.11",
        user: "debian",
        hostKey: "ssh-ed25519 AAAAmockdc3-etcd1-ssh-host-key",
    });
    // It runs once cloud-init has finished on the creator.
    expect(waitsFor("dc3-gluster-create")).toContain("dc3-etcd1-ready");
    // The witness holds etcd and the arbiter: its VM is protected.
    expect(declared.find((d) => d.name === "dc3-etcd1" && d.type === "proxmoxve:index/vmLegacy:VmLegacy")!.protect).toBe(true);
    expect(await valueOf(program.glusterMountServers)).toEqual(["10.10.1.41", "10.10.2.41", "10.10.3.11"]);
    expect(review(reviewed(run, declared))).toEqual([]);
});

test("dc1: its data brick VM with a 500 GB disk, no volume command (dc3 runs it)", async () => {
    const { run } = await runStack("dc1");
    const vm = run.byType("proxmoxve:index/vmLegacy:VmLegacy").find((v) => v.inputs.name === "dc1-gfs1")!.inputs as any;
    expect(vm.disks.map((d: any) => d.size)).toEqual([32, 500]);
    expect(vm.tags).toEqual(["nextcloud-ha", "dc1", "gluster"]);
    expect(run.byType("command:remote:Command").filter((c) => c.name.endsWith("-create"))).toHaveLength(0);
    const gluster = run.byType("nextcloud-ha:index:GlusterVolume")[0].inputs as any;
    expect(gluster.bricks).toEqual([
        { host: "dc1-gfs1", arbiter: false },
        { host: "dc2-gfs1", arbiter: false },
        { host: "dc3-etcd1", arbiter: true },
    ]);
});
