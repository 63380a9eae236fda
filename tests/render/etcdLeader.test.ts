/**
 * The etcd leader keeper's logic (render/etcd_leader.py, as rendered for the witness), run
 * against a stand-in etcdctl that answers from files: it moves the leadership once the hold-off
 * has passed, only to its own member and through the leader's endpoint, not again once it holds
 * it, and it neither moves nor crashes when a member knows no leader. The lab's drills count its
 * moves from what it prints (keeperMovesIn): checked against its real output here.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { keeperMovesIn } from "../../lab/cluster";
import { loadPlan } from "../../plan/load";
import { hostByName } from "../../plan/plan";
import { readStackConfig } from "../../plan/stackFiles";
import { renderEtcdMember } from "../../render/etcd";
import { placeholderSecrets, placeholderTls } from "../../render/placeholders";

const plan = loadPlan({ ...readStackConfig("dc1"), etcd: { leaderHoldOffS: 5 } }).plan;
const script = renderEtcdMember(plan, hostByName(plan, "dc3-etcd1"), placeholderTls("dc3-etcd1"), placeholderSecrets().etcd).files.find((f) =>
    f.path.endsWith("etcd-leader-keeper.py"),
)!.content;

const ids = { "dc1-etcd1": 1, "dc2-etcd1": 2, "dc3-etcd1": 3 };
const url = (n: number) => `https://10.10.${n}.11:2379`;
const members = { members: Object.entries(ids).map(([name, ID]) => ({ ID, name, clientURLs: [url(ID)] })) };
const statuses = (leader: number | undefined) =>
    Object.values(ids).map((id) => ({ Endpoint: url(id), Status: { header: { member_id: id }, ...(leader ? { leader } : {}), raftIndex: 100 } }));

/**
 * Runs the keeper for `seconds` against the stand-in; returns the etcdctl calls it made and what
 * it printed. Its own member's metrics come from a file (the one seam replaced): the leader
 * changes it has seen go up by one at each of `bumps` (seconds from the start), as when the
 * member loses the leader and finds it again.
 */
async function runKeeper(leader: number | undefined, seconds: number, bumps: number[] = []): Promise<{ calls: string[]; out: string }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-keeper-"));
    const timers: NodeJS.Timeout[] = [];
    try {
        fs.writeFileSync(path.join(dir, "members.json"), JSON.stringify(members));
        fs.writeFileSync(path.join(dir, "status.json"), JSON.stringify(statuses(leader)));
        // After a move the cluster reports the new leader, as etcd would.
        fs.writeFileSync(path.join(dir, "moved.json"), JSON.stringify(statuses(3)));
        fs.writeFileSync(
            path.join(dir, "etcdctl"),
            `#!/bin/sh\necho "$ETCDCTL_ENDPOINTS $*" >> ${dir}/calls\ncase "$1 $2" in\n"member list") cat ${dir}/members.json ;;\n"endpoint status") cat ${dir}/status.json ;;\n"move-leader "*) cp ${dir}/moved.json ${dir}/status.json ;;\nesac\n`,
            { mode: 0o755 },
        );
        fs.writeFileSync(path.join(dir, "changes"), "1");
        const seam = `def member_metrics():\n    return int(open(${JSON.stringify(path.join(dir, "changes"))}).read()), True\n\n\nif __name__ == "__main__":`;
        expect(script).toContain('\nif __name__ == "__main__":');
        const child = spawn("python3", ["-u", "-"], { env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        child.stdin.end(script.replace('\nif __name__ == "__main__":', `\n${seam}`));
        bumps.forEach((b, i) => timers.push(setTimeout(() => fs.writeFileSync(path.join(dir, "changes"), String(2 + i)), b * 1000)));
        await new Promise((resolve) => {
            timers.push(setTimeout(() => child.kill(), seconds * 1000));
            child.on("exit", resolve);
        });
        const calls = fs.existsSync(path.join(dir, "calls")) ? fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n") : [];
        return { calls, out };
    } finally {
        timers.forEach(clearTimeout);
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

test("a leader in a data site: one move to the witness's member after the hold-off, sent to the leader, then none", async () => {
    const started = Date.now() / 1000;
    const { calls, out } = await runKeeper(1, 12);
    // Counted as the drills count it: one move, stamped after the hold-off (5 s) from the start.
    const moves = keeperMovesIn(out, started - 1);
    expect(moves).toHaveLength(1);
    expect(moves[0] - started).toBeGreaterThanOrEqual(4);
    expect(keeperMovesIn(out, moves[0] + 1)).toEqual([]);
    expect(calls.filter((c) => c.includes("move-leader"))).toEqual([`${url(1)} move-leader 3`]);
    expect(out).toContain("etcd leader keeper (dc3-etcd1): leader dc1-etcd1, every member answers");
    expect(out).toContain("moved the leadership from dc1-etcd1 to dc3-etcd1");
    expect(out).toContain("leader dc3-etcd1, every member answers");
    expect(out).not.toMatch(/Traceback/);
}, 30000);

test("a member that knows no leader (an election): no move, no crash", async () => {
    const { calls, out } = await runKeeper(undefined, 9);
    expect(calls.filter((c) => c.includes("move-leader"))).toEqual([]);
    expect(out).toContain("a member knows no leader");
    expect(out).not.toMatch(/Traceback/);
}, 30000);

test("its own member losing and finding the leader (a cut etcdctl's calls waited out) restarts the hold-off: the move comes a hold-off after the last", async () => {
    const started = Date.now() / 1000;
    const { out } = await runKeeper(1, 20, [3, 6]);
    expect(out).toContain("dc3-etcd1 lost the leader and found it again (3 leader changes seen)");
    const moves = keeperMovesIn(out, started - 1);
    expect(moves).toHaveLength(1);
    // The last loss at 6 s, the hold-off 5 s: not before 11 s (a round is 2 s: a second of slack).
    expect(moves[0] - started).toBeGreaterThanOrEqual(10);
    expect(out).not.toMatch(/Traceback/);
}, 30000);

test("its member's metrics as etcd prints them: the leader changes seen and whether it has a leader; None when either is missing", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ncha-keeper-"));
    try {
        const file = path.join(dir, "keeper.py");
        fs.writeFileSync(file, script);
        const texts = [
            "# HELP etcd_server_has_leader ...\n# TYPE etcd_server_has_leader gauge\netcd_server_has_leader 1\netcd_server_is_leader 0\netcd_server_leader_changes_seen_total 14\n",
            "etcd_server_has_leader 0\netcd_server_leader_changes_seen_total 9\n",
            "etcd_server_is_leader 1\netcd_server_leader_changes_seen_total 9\n",
        ];
        const code = `import json, runpy, sys; g = runpy.run_path(sys.argv[1], run_name="keeper"); print(json.dumps([g["parse_metrics"](t) for t in json.loads(sys.argv[2])]))`;
        const r = spawnSync("python3", ["-c", code, file, JSON.stringify(texts)], { encoding: "utf8" });
        expect(r.stderr).toBe("");
        expect(JSON.parse(r.stdout)).toEqual([[14, true], [9, false], null]);
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
});
