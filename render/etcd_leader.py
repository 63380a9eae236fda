# etcd's leader keeper, on a member the plan lets lead (three-site: the witness's): it moves the
# raft leadership to its own member (`etcdctl move-leader`, sent to the current leader) when
#   - the leader is a member the plan does not let lead (one in a data site, lost with the
#     primary's site if that site goes: the new etcd leader then renews every lease, Patroni's
#     leader key included, and the failover waits that much longer);
#   - every member answers its status, and they agree on the leader;
#   - its own member is not behind the leader by more than MAX_LAG raft entries;
#   - nothing changed for HOLD_OFF seconds: since it started, since the leader or the set of
#     answering members last changed, since its own member last lost and found the leader (its
#     etcd_server_leader_changes_seen_total: a cut shorter than etcdctl's timeouts leaves the
#     answers unchanged, but not that counter), since its own last move. So it never flaps: at
#     most one move per hold-off, and none within a hold-off of its member coming back.
# It logs each move and each change it sees, one line each, stamped in UTC (the lab's drills
# count its moves from the log; journald adds its own stamp too). Holds no secret: the member's
# certificate and key are files. Runs until stopped; every etcdctl call is bounded.
import http.client
import json
import re
import ssl
import sys
import time
import urllib.request

# S, etcdctl and why: render/etcd_common.py, put before this script.
NAME, HOLD_OFF, MAX_LAG, INTERVAL = S["name"], S["holdOffS"], S["maxLag"], S["intervalS"]
LEADERS = set(S["leaders"])


def say(message):
    t = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    print(f"{stamp} etcd leader keeper ({NAME}): {message}", flush=True)


def look():
    """(members by id, statuses by id, why not) from the cluster as it is now (its member list, not the plan's); never raises on what etcdctl prints."""
    try:
        return read_cluster()
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as e:
        return None, None, f"etcdctl's answer unreadable ({type(e).__name__}: {e})"


def read_cluster():
    r = etcdctl([S["localUrl"]], "member", "list", "-w", "json", timeout="3s", dial="2s")
    if r.returncode != 0:
        return None, None, f"no member list: {why(r)}"
    members = {m["ID"]: m for m in json.loads(r.stdout).get("members", [])}
    urls = [m["clientURLs"][0] for m in members.values() if m.get("clientURLs")]
    if len(urls) < len(members):
        return members, None, "a member has not started"
    r = etcdctl(urls, "endpoint", "status", "-w", "json", timeout="3s", dial="2s")
    answered = json.loads(r.stdout) if r.stdout.strip().startswith("[") else []
    statuses = {s["Status"]["header"]["member_id"]: s["Status"] for s in answered}
    if r.returncode != 0 or len(statuses) < len(members):
        missing = [m.get("name") or str(i) for i, m in members.items() if i not in statuses]
        return members, statuses, f"not every member answers ({', '.join(missing) or why(r)})"
    return members, statuses, None


def parse_metrics(text):
    """(leader changes seen, has a leader) from etcd's /metrics text, or None if either is missing."""
    m = dict(re.findall(r"^etcd_server_(leader_changes_seen_total|has_leader) (\S+)$", text, re.M))
    if len(m) < 2:
        return None
    return int(float(m["leader_changes_seen_total"])), m["has_leader"] == "1"


def member_metrics():
    """(leader changes its own member has seen, whether it has a leader now) from its /metrics, or None."""
    try:
        ctx = ssl.create_default_context(cafile=S["caFile"])
        ctx.load_cert_chain(S["certFile"], S["keyFile"])
        with urllib.request.urlopen(S["localUrl"] + "/metrics", context=ctx, timeout=3) as r:
            return parse_metrics(r.read().decode())
    except (OSError, ValueError, http.client.HTTPException):
        return None


def main():
    changed_at = time.monotonic()  # it starts: the hold-off runs from here
    seen = None
    while True:
        members, statuses, problem = look()
        # Read after the others: a cut that etcdctl's calls waited out shows here.
        local = member_metrics()
        # A member in an election, or cut off from the leader, reports none (etcd leaves out a 0).
        leaders = {s.get("leader", 0) for s in (statuses or {}).values()}
        if 0 in leaders and not problem:
            problem = "a member knows no leader"
        if not problem and local is None:
            problem = f"{NAME}'s metrics unreadable"
        elif not problem and not local[1]:
            problem = f"{NAME} has no leader"
        leader = next(iter(leaders)) if len(leaders) == 1 else None
        name = lambda i: (members or {}).get(i, {}).get("name") or format(i, "x")  # noqa: E731
        now_seeing = (problem, leader, tuple(sorted(statuses or {})), local and local[0])
        if now_seeing != seen:
            changed_at = time.monotonic()
            if problem:
                say(problem)
            elif leader is None:
                say(f"the members disagree on the leader ({', '.join(name(x) for x in leaders)})")
            elif seen and seen[:3] == now_seeing[:3]:
                say(f"{NAME} lost the leader and found it again ({local[0]} leader changes seen)")
            else:
                say(f"leader {name(leader)}, every member answers")
            seen = now_seeing
        mine = next((i for i, m in (members or {}).items() if m.get("name") == NAME), None)
        if problem or leader is None or mine is None or name(leader) in LEADERS:
            time.sleep(INTERVAL)
            continue
        lag = statuses[leader].get("raftIndex", 0) - statuses.get(mine, {}).get("raftIndex", 0)
        if lag > MAX_LAG:
            if time.monotonic() - changed_at >= HOLD_OFF:
                say(f"not moving the leadership: {NAME} is {lag} raft entries behind {name(leader)}")
                changed_at = time.monotonic()
        elif time.monotonic() - changed_at >= HOLD_OFF:
            r = etcdctl([members[leader]["clientURLs"][0]], "move-leader", format(mine, "x"), timeout="5s", dial="2s")
            say(f"moved the leadership from {name(leader)} to {NAME}" if r.returncode == 0 else f"could not move the leadership from {name(leader)}: {why(r)}")
            changed_at = time.monotonic()
        time.sleep(INTERVAL)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
