# The cluster step of a Patroni cluster (render/patroniCluster.ts prepends SETTINGS): run by
# `pulumi up` on one member as `sudo -u postgres python3 -`, the script on stdin, after the
# members' converge steps. It sets the cluster-wide (dynamic) config to the plan's: only the
# keys that differ, never standby_cluster or slots. Then the members whose PostgreSQL needs a
# restart for it are restarted one at a time: the replicas first, each streaming again before
# the next; then, behind two gates (the candidate's replication lag and no long transaction on
# the primary), a switchover to a replica, and the old primary last. Never two members down at
# once. Every wait is bounded; a failure says which member and what was already done, and
# leaves the rest as it was (a re-run carries on: pending restarts stay pending).
import json
import subprocess
import sys
import time
import urllib.request

import yaml

S = SETTINGS  # noqa: F821 (prepended by the renderer)
done = []


def say(message):
    print(f"{S['scope']}: {message}", flush=True)


def fail(message):
    print(f"{S['scope']}: {message}; done before: {', '.join(done) or 'nothing'}", file=sys.stderr, flush=True)
    sys.exit(1)


def ctl(*args, stdin=None):
    r = subprocess.run(["patronictl", "-c", S["config"], *args], input=stdin, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        fail(f"patronictl {' '.join(args)} failed: {' | '.join((r.stderr or r.stdout).strip().splitlines()[-2:])}")
    return r.stdout


with open(S["config"]) as f:
    local = yaml.safe_load(f)
rest = f"http://{local['restapi']['connect_address']}"


def members():
    with urllib.request.urlopen(f"{rest}/cluster", timeout=5) as r:
        return json.load(r)["members"]


def member(name):
    return next((m for m in members() if m["name"] == name), None)


def wait(what, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # a member restarting does not answer for a moment
            pass
        time.sleep(1)
    fail(f"{what}: not after {seconds} s")


def streaming(name):
    m = member(name)
    return m is not None and m["state"] == "streaming" and isinstance(m.get("lag"), int) and m["lag"] <= S["maxLagBytes"]


def leading(name):
    m = member(name)
    return m is not None and m["role"] in ("leader", "standby_leader") and m["state"] == "running"


# 0. Day one: the cluster has bootstrapped (it has a leader) before anything is set.
wait("the cluster answering with a leader", lambda: any(m["role"] in ("leader", "standby_leader") for m in members()), S["memberSeconds"])

# 1. The dynamic config: what differs from the plan's, as one PATCH.
current = yaml.safe_load(ctl("show-config")) or {}
patch = {}
for key, want in S["dynamic"].items():
    if key != "postgresql":
        if current.get(key) != want:
            patch[key] = want
        continue
    have = current.get("postgresql") or {}
    part = {}
    for k, v in want.items():
        if k == "parameters":
            params = {p: x for p, x in v.items() if str((have.get("parameters") or {}).get(p)) != str(x)}
            if params:
                part["parameters"] = params
        elif have.get(k) != v:
            part[k] = v
    if part:
        patch["postgresql"] = part
if patch:
    ctl("edit-config", "--apply", "-", "--force", "--quiet", stdin=yaml.safe_dump(patch))
    say(f"dynamic config set: {json.dumps(patch, sort_keys=True)}")
    done.append("dynamic config")
    # Each member applies it at its next loop, and flags the parameters that need a restart.
    time.sleep(S["dynamic"]["loop_wait"] * 2 + 2)
else:
    say("dynamic config: as planned")

# 2. Restarts, replicas first.
pending = [m for m in members() if m.get("pending_restart")]
if not pending:
    say("no member needs a restart")
    sys.exit(0)
leader = next((m["name"] for m in members() if m["role"] in ("leader", "standby_leader")), None)
for m in sorted((m for m in pending if m["name"] != leader), key=lambda m: m["name"]):
    say(f"restarting replica {m['name']} ({', '.join(m.get('pending_restart_reason', {}).keys()) or 'pending restart'})")
    ctl("restart", S["scope"], m["name"], "--pending", "--force")
    wait(f"replica {m['name']} streaming again after its restart", lambda: streaming(m["name"]), S["memberSeconds"])
    done.append(f"restarted {m['name']}")

if leader is None or not any(m["name"] == leader for m in pending):
    say("restarts done")
    sys.exit(0)

replicas = [m for m in members() if m["name"] != leader and m["role"] in ("replica", "sync_standby")]
if member(leader)["role"] == "standby_leader" or not replicas:
    # A standby cluster's leader serves no writes; a lone member has no one to hand over to.
    say(f"restarting {leader} in place (no replica to switch over to, or a standby cluster)")
    ctl("restart", S["scope"], leader, "--pending", "--force")
    wait(f"{leader} running again after its restart", lambda: leading(leader), S["memberSeconds"])
    say("restarts done")
    sys.exit(0)

# 3. The gates, then the switchover, then the old primary.
candidate = None


def candidate_ready():
    # In synchronous mode Patroni hands over only to the synchronous standby, which it names
    # again after each replica's restart: wait for it, streaming, lag under the limit.
    global candidate
    ready = [
        m
        for m in members()
        if m["name"] != leader
        and m["role"] in (("sync_standby",) if S["dynamic"].get("synchronous_mode") else ("replica", "sync_standby"))
        and m["state"] == "streaming"
        and isinstance(m.get("lag"), int)
        and m["lag"] <= S["maxLagBytes"]
    ]
    candidate = min(ready, key=lambda m: m["lag"])["name"] if ready else None
    return candidate is not None


wait(f"gate: a {'synchronous ' if S['dynamic'].get('synchronous_mode') else ''}replica streaming with lag under {S['maxLagBytes']} bytes", candidate_ready, S["gateSeconds"])


def no_long_transactions():
    import psycopg2

    su = local["postgresql"]["authentication"]["superuser"]
    with psycopg2.connect(host=member(leader)["host"], port=S["port"], user=su["username"], password=su["password"], dbname="postgres", connect_timeout=5) as c:
        with c.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start < now() - make_interval(secs => %s)",
                (S["longTransactionSeconds"],),
            )
            n = cur.fetchone()[0]
    if n:
        say(f"gate: {n} transactions open longer than {S['longTransactionSeconds']} s on {leader}; waiting")
    return n == 0


wait(f"gate: no transaction open longer than {S['longTransactionSeconds']} s on {leader}", no_long_transactions, S["gateSeconds"])
say(f"switchover {leader} -> {candidate}")
out = ctl("switchover", S["scope"], "--leader", leader, "--candidate", candidate, "--force")
if "Successfully" not in out:
    fail(f"the switchover {leader} -> {candidate} did not happen: {' | '.join(out.strip().splitlines()[-2:])}; {leader} keeps its pending restart")
wait(f"{candidate} leading after the switchover", lambda: leading(candidate), S["memberSeconds"])
done.append(f"switchover to {candidate}")
say(f"restarting the old primary {leader}")
ctl("restart", S["scope"], leader, "--pending", "--force")
wait(f"{leader} streaming again after its restart", lambda: streaming(leader), S["memberSeconds"])
done.append(f"restarted {leader}")
say("restarts done")
