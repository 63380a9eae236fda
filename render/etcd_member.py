# An etcd member's changes of membership, run as root by its converge step and by `pulumi up`:
#   join     before the member's first start: with no data directory and a running cluster (another
#            member of the plan answers healthy), it is added (`etcdctl member add`, refused while a
#            member is down or another added one has not started: a new member counts toward the
#            quorum before it runs) and started as `existing` with the cluster's member list (an
#            environment file the unit reads after /etc/default/etcd). No cluster answering, or
#            the cluster's bootstrap naming it and it never ran: day one, it starts as the plan's
#            `new` cluster. A host rebuilt under a member that ran (no data here) is removed and
#            added again.
#   started  after that first start: a member that joined waits until it is healthy (bounded).
#   leave    when the plan drops the member (the `delete` of `<host>-leave-etcd`, before its VM
#            goes): refused when the members that stay would not keep a healthy quorum; hands the
#            raft leadership to another member if it holds it, `etcdctl member remove`, stops
#            etcd and moves its data directory aside (a removed member must never start again).
# Every wait bounded; safe to re-run. Holds no secret: the member's certificate and key are files.
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

# S, etcdctl and why: render/etcd_common.py, put before this script.

NAME, PEER = S["name"], S["peerUrl"]


def say(message):
    print(f"etcd {sys.argv[1]} ({NAME}): {message}", flush=True)


def fail(message):
    print(f"etcd {sys.argv[1]} on {NAME}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def healthy(url):
    # A member without a quorum does not answer its health read: 5 s is long enough for one that has one.
    return etcdctl([url], "endpoint", "health", timeout="5s").returncode == 0


def member_list(endpoints):
    r = etcdctl(endpoints, "member", "list", "-w", "json")
    if r.returncode != 0:
        fail(f"cannot list the members through {', '.join(endpoints)}: {why(r)}")
    return json.loads(r.stdout).get("members", [])


def started(m):
    # A member that never ran has no client URLs; one added by `member add` has no name either.
    return bool(m.get("clientURLs"))


def label(m):
    return m.get("name") or f"{m['peerURLs'][0]} (added, never started)"


def member_id(m):
    return format(m["ID"], "x")


def reconfigure(endpoints, *args):
    # etcd refuses a change of membership until the members it leaves have been connected a while
    # (5 s): a member that just joined does not count yet. Asked again, bounded.
    deadline = time.time() + 60
    while (r := etcdctl(endpoints, "member", *args)).returncode != 0:
        if "unhealthy cluster" not in r.stderr or time.time() > deadline:
            fail(f"etcdctl member {args[0]} refused: {why(r)}")
        time.sleep(2)


def wait(what, check, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(2)
    fail(f"{what} not after {seconds} s")


def listening(url):
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        return True
    except OSError:
        return False


def bootstrap_member(running):
    # Day one: a member that runs but has no quorum yet lists this one among the bootstrap's members,
    # and no member but itself has ever run. A running cluster that lost its quorum has run members.
    # Asked on the peer port (/members: the member's own view, which it serves without a quorum).
    ctx = ssl.create_default_context(cafile=S["caFile"])
    ctx.load_cert_chain(S["certFile"], S["keyFile"])
    ctx.check_hostname = False
    for n in running:
        try:
            with urllib.request.urlopen(f"{S['peerUrls'][n]}/members", timeout=5, context=ctx) as r:
                members = json.load(r)
        except (OSError, ValueError):
            continue
        return any(PEER in m.get("peerURLs", []) for m in members) and not any(started(m) for m in members if m.get("name") != n)
    return False


def others_healthy():
    return [u for n, u in sorted(S["clientUrls"].items()) if n != NAME and healthy(u)]


def join():
    if os.path.isdir(os.path.join(S["dataDir"], "member")):
        say("its data directory is in place: it starts as the member it is")
        return
    answering = others_healthy()
    if not answering:
        # Day one only if no other member runs at all: one that runs but is not healthy (no quorum yet
        # on day one, or a fault) must not make this one start a cluster of its own beside a running one.
        running = [n for n, u in sorted(S["peerUrls"].items()) if n != NAME and listening(u)]
        if running and not bootstrap_member(running):
            fail(f"{', '.join(running)} run but none answers healthy; starting {NAME} now could found a second cluster: try again when they do")
        if os.path.exists(S["joinEnv"]):
            os.remove(S["joinEnv"])
        say("no other member answers: it starts with the plan's new cluster (day one)")
        return
    members = member_list(answering)
    mine = [m for m in members if PEER in m.get("peerURLs", [])]
    if mine and not started(mine[0]) and mine[0].get("name"):
        # Named by the cluster's bootstrap and never started: day one, its peers came up first.
        if os.path.exists(S["joinEnv"]):
            os.remove(S["joinEnv"])
        say("a member of the plan's new cluster, starting after its peers (day one)")
        return
    if mine and started(mine[0]) and mine[0].get("name") != NAME:
        fail(f"its peer address {PEER} belongs to running member {mine[0].get('name')}; free the address or remove that member first")
    if mine and started(mine[0]):
        # It ran before (it has a name) and its data is gone: a rebuilt host. Its old self must go first.
        reconfigure(answering, "remove", member_id(mine[0]))
        say(f"it ran before and its data is gone: its old self ({member_id(mine[0])}) removed, to be added again")
        members, mine = member_list(answering), []
    if not mine:
        waiting = [label(m) for m in members if not started(m)]
        if waiting:
            fail(f"{', '.join(waiting)} was added and has not started; start it or remove it (etcdctl member remove) before adding {NAME}")
        down = [label(m) for m in members if not any(healthy(u) for u in m.get("clientURLs", []))]
        if down:
            fail(
                f"cannot add {NAME} while {', '.join(down)} is not healthy: a new member counts toward the quorum before it runs; "
                "bring it back, or take it out of the plan first"
            )
        reconfigure(answering, "add", NAME, f"--peer-urls={PEER}")
        say(f"added to the cluster of {len(members)} members ({', '.join(label(m) for m in members)})")
        members = member_list(answering)
    initial = ",".join(f"{m.get('name') or NAME}={m['peerURLs'][0]}" for m in members)
    os.makedirs(os.path.dirname(S["joinEnv"]), exist_ok=True)
    with open(S["joinEnv"] + ".tmp", "w") as f:
        f.write(f'# {NAME} joins a running cluster (render/etcd_member.py); read at its first start only.\n')
        f.write(f'ETCD_INITIAL_CLUSTER_STATE="existing"\nETCD_INITIAL_CLUSTER="{initial}"\n')
    os.replace(S["joinEnv"] + ".tmp", S["joinEnv"])
    say(f"starts as an existing cluster's member: {initial}")


def after_start():
    if not os.path.exists(S["joinEnv"]):
        return
    wait(f"{NAME} healthy after joining", lambda: healthy(S["localUrl"]), 120)
    os.remove(S["joinEnv"])
    say("joined and healthy")


def leave():
    reachable = [u for u in S["clientUrls"].values() if healthy(u)]
    if not reachable:
        fail("no member of the cluster answers; nothing can be removed (see the runbook: a member removed by hand)")
    members = member_list(reachable)
    mine = next((m for m in members if PEER in m.get("peerURLs", [])), None)
    if mine is None:
        say("not a member any more")
    else:
        staying = [m for m in members if m is not mine]
        if not staying:
            fail("it is the cluster's last member; it cannot leave")
        up = [m for m in staying if any(healthy(u) for u in m.get("clientURLs", []))]
        if len(up) <= len(staying) // 2:
            down = [label(m) for m in staying if m not in up]
            fail(
                f"of the {len(staying)} members that stay only {len(up)} answer ({', '.join(down)} down): without {NAME} the cluster would lose its quorum; "
                "bring them back first"
            )
        status = etcdctl([S["localUrl"]], "endpoint", "status", "-w", "json")
        if status.returncode == 0:
            header = json.loads(status.stdout)[0]["Status"]
            if header.get("leader") == mine["ID"]:
                target = member_id(up[0])
                r = etcdctl([S["localUrl"]], "move-leader", target)
                say(f"raft leadership handed to {label(up[0])}" if r.returncode == 0 else f"warning: could not hand the leadership over: {why(r)}")
        endpoints = [u for m in up for u in m.get("clientURLs", [])]
        reconfigure(endpoints, "remove", member_id(mine))
        say(f"removed; the cluster has {len(staying)} members ({', '.join(label(m) for m in staying)})")
    subprocess.run(["systemctl", "disable", "--now", S["unit"]], check=False)
    if os.path.isdir(S["dataDir"]):
        aside = f"{S['dataDir']}.removed-{time.strftime('%Y%m%dT%H%M%S')}"
        os.rename(S["dataDir"], aside)
        say(f"stopped; its data directory moved to {aside}")


if len(sys.argv) != 2 or sys.argv[1] not in ("join", "started", "leave"):
    print("usage: etcd-member.py join|started|leave", file=sys.stderr)
    sys.exit(2)
{"join": join, "started": after_start, "leave": leave}[sys.argv[1]]()
