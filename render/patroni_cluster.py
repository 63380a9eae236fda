# The cluster step of a Patroni cluster (render/patroniCluster.ts puts SETTINGS and
# patroni_common.py before it): run by `pulumi up` on one member as `sudo -u postgres python3 -`, the script on stdin, after the
# members' converge steps. It sets the cluster-wide (dynamic) config to the plan's: only the
# keys that differ, never standby_cluster or slots; the plan owns postgresql.parameters, so a
# parameter the plan no longer has is removed. Then the members whose PostgreSQL needs a restart
# for it are restarted one at a time: the replicas first, each streaming again before the next;
# then, behind two gates (a replica streaming with lag under the limit, no long transaction on
# the primary), a switchover, and the old primary last. A decrease of a setting replicas may not
# run below (max_connections, ...) goes the other way: the primary restarts in place first (an
# outage of one restart), then the replicas. Never two members down at once. Every wait is
# bounded; a failure says which member and what was already done, and leaves the rest as it was
# (a re-run carries on: pending restarts stay pending). At the end no member may be left with a
# pending restart, and PostgreSQL must know every planned parameter and accept its value. A
# leader the plan no longer has hands over to a planned member first (its leave step stops it).

# Replicas may not run these below the primary: Patroni starts a replica with the primary's value.
NOT_BELOW_PRIMARY = ("max_connections", "max_worker_processes", "max_wal_senders", "max_prepared_transactions", "max_locks_per_transaction")


def streaming(name):
    m = member(name)
    return m is not None and m["state"] == "streaming" and isinstance(m.get("lag"), int) and m["lag"] <= S["maxLagBytes"]


def leading(name):
    # A standby cluster's leader streams from the other site: its state is "streaming".
    m = member(name)
    return m is not None and (m["role"] == "leader" and m["state"] == "running" or m["role"] == "standby_leader" and m["state"] in ("running", "streaming"))


def restart(name, reason, back):
    # A replica restarted before it replayed its primary's lowered settings starts with the old
    # ones again (Patroni takes the higher of its config and pg_controldata): then once more.
    for attempt in range(3):
        say(f"restarting {name} ({reason})" + (f", attempt {attempt + 1}" if attempt else ""))
        out = ctl("restart", S["scope"], name, "--pending", "--force")
        if f"Success: restart on member {name}" not in out:
            fail(f"Patroni did not restart {name}: {' | '.join(out.strip().splitlines()[-2:])}")
        wait(f"{name} back after its restart", lambda: back(name), S["memberSeconds"])
        time.sleep(S["dynamic"]["loop_wait"] + 1)  # its next loop reports what is still pending
        if not member(name).get("pending_restart"):
            done.append(f"restarted {name}")
            return
        reason = why(member(name))
    fail(f"{name} still needs a restart after 3 ({reason})")


def no_long_transactions():
    n = superuser_query(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND xact_start < now() - make_interval(secs => %s)",
        (S["longTransactionSeconds"],),
    )[0][0]
    if n:
        say(f"gate: {n} transactions open longer than {S['longTransactionSeconds']} s on the primary; waiting")
    return n == 0


def long_transaction_gate():
    wait(f"gate: no transaction open longer than {S['longTransactionSeconds']} s on the primary", no_long_transactions, S["gateSeconds"])


def handover(leader, otherwise):
    """A switchover behind the gates: a replica streaming with lag under the limit (in synchronous mode the synchronous standby, the only one Patroni hands over to; it names it again after each replica's restart), no long transaction."""
    candidate = None
    sync = S["dynamic"].get("synchronous_mode")

    def candidate_ready():
        nonlocal candidate
        ready = [
            m
            for m in members()
            if m["name"] != leader
            and m["name"] in S["members"]
            and m["role"] in (("sync_standby",) if sync else ("replica", "sync_standby"))
            and m["state"] == "streaming"
            and isinstance(m.get("lag"), int)
            and m["lag"] <= S["maxLagBytes"]
        ]
        candidate = min(ready, key=lambda m: m["lag"])["name"] if ready else None
        return candidate is not None

    wait(f"gate: a {'synchronous ' if sync else ''}replica streaming with lag under {S['maxLagBytes']} bytes", candidate_ready, S["gateSeconds"])
    long_transaction_gate()
    say(f"switchover {leader} -> {candidate}")
    out = ctl("switchover", S["scope"], "--leader", leader, "--candidate", candidate, "--force")
    if "failed, details" in out:
        fail(f"Patroni refused the switchover {leader} -> {candidate}: {' | '.join(out.strip().splitlines()[:1])}; {otherwise}")
    # Done through the REST API, or (when that failed) scheduled in the DCS: either way, wait for it.
    wait(f"{candidate} leading after the switchover", lambda: leading(candidate), S["memberSeconds"])
    done.append(f"switchover to {candidate}")


# 0. Day one: a cluster that has not bootstrapped yet takes the plan's dynamic config from its
# bootstrap section: nothing to set.
if not bootstrapped():
    say("not bootstrapped yet: the bootstrap sets the plan's dynamic config; nothing to set")
    sys.exit(0)
wait("the cluster answering with a leader", lambda: leader_name() is not None, S["memberSeconds"])

# 1. The dynamic config: what differs from the plan's, as one patch.
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
            had = have.get("parameters") or {}
            params = {p: x for p, x in v.items() if str(had.get(p)) != str(x)}
            params.update({p: None for p in had if p not in v})  # removed from the plan: removed here
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
    # Each member applies it at its next loop (of the old or the new length) and flags what needs a restart.
    time.sleep(max(current.get("loop_wait") or 10, S["dynamic"]["loop_wait"]) * 2 + 2)
else:
    say("dynamic config: as planned")

# 2. A leader the plan no longer has (its VM goes at the end of this pulumi up, after HAProxy
# dropped it) hands over to a planned member now, behind the same gates.
wait("the cluster answering with a leader", lambda: leader_name() is not None, S["memberSeconds"])
leader = leader_name()
if leader not in S["members"] and member(leader)["role"] == "leader":
    say(f"{leader} leads but leaves the plan: handing over first")
    handover(leader, f"{leader} still leads; its leave step hands over before its VM goes")

# 3. Restarts.
pending = [m for m in members() if m.get("pending_restart") and m["name"] in S["members"]]
leader = leader_name()


def lowered(m):
    reasons = m.get("pending_restart_reason") or {}
    try:
        return [p for p in NOT_BELOW_PRIMARY if p in reasons and float(reasons[p]["new_value"]) < float(reasons[p]["old_value"])]
    except (KeyError, TypeError, ValueError):
        return []


def why(m):
    return ", ".join(f"{p} {v.get('old_value')} -> {v.get('new_value')}" for p, v in (m.get("pending_restart_reason") or {}).items()) or "pending restart"


replicas_pending = sorted((m for m in pending if m["name"] != leader), key=lambda m: m["name"])
leader_pending = next((m for m in pending if m["name"] == leader), None)
others = [m for m in members() if m["name"] != leader and m["role"] in ("replica", "sync_standby")]
if not pending:
    say("no member needs a restart")
elif leader_pending and (member(leader)["role"] == "standby_leader" or not others or lowered(leader_pending)):
    # In place: a standby cluster's leader serves no writes; a lone member has no one to hand
    # over to; a lowered setting must reach the primary before its replicas.
    if lowered(leader_pending):
        say(f"{', '.join(lowered(leader_pending))} lowered: the primary restarts first, in place")
    if member(leader)["role"] == "leader":
        long_transaction_gate()
    restart(leader, why(leader_pending), leading)
    for m in replicas_pending:
        restart(m["name"], why(m), streaming)
else:
    for m in replicas_pending:
        restart(m["name"], why(m), streaming)
    if leader_pending:
        handover(leader, f"{leader} keeps its pending restart")
        # The old primary finishes its demotion and follows the new one (Patroni refuses a restart meanwhile).
        wait(f"the old primary {leader} streaming from {leader_name()}", lambda: streaming(leader), S["memberSeconds"])
        if member(leader).get("pending_restart"):
            restart(leader, f"the old primary: {why(member(leader))}", streaming)
        else:
            say(f"the old primary {leader} started as a replica with the new settings")

# 4. Nothing left pending, and PostgreSQL knows every planned parameter and accepts its value.
left = [f"{m['name']} ({why(m)})" for m in members() if m.get("pending_restart") and m["name"] in S["members"]]
if left:
    fail(f"restarts still pending after the roll: {', '.join(left)}")
params = S["dynamic"]["postgresql"]["parameters"]
known = {r[0] for r in superuser_query("SELECT name FROM pg_settings WHERE name = ANY(%s)", (list(params),))}
unknown = sorted(p for p in params if p not in known and "." not in p)
if unknown:
    fail(f"PostgreSQL has no parameter {', '.join(unknown)}: check patroni.parameters")
errors = superuser_query("SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL AND name IS NOT NULL")
if errors:
    fail(f"PostgreSQL refused {', '.join(f'{n} ({e})' for n, e in errors)}: check patroni.parameters")
say("restarts done" if pending else "as planned")
