# etcd's auth step (etcd.auth), run as root on the cluster's configuring member by `pulumi up`
# after its members converged (render/etcd.ts renderEtcdAuthStep). Safe to re-run:
#   - once the cluster has a quorum (bounded: day one, the other sites' members may not be up yet);
#   - the root user (its password from the plan's secrets), a role and a user per Patroni cluster
#     that uses this etcd: `patroni-<scope>`, reading and writing `/service/<scope>/` only; a
#     Patroni user's password set to the plan's where it differs (a login as the user tells);
#   - then `auth enable`, where it is off. Refused, with nothing changed, while a Patroni cluster
#     runs against this etcd and is not paused: Patroni 4.0.7 holding no credentials would lose
#     its leader key at once, and one holding them does not start while auth is off, so the switch
#     takes `patronictl pause` around it (docs/design/security.md).
# Passwords go to etcdctl on its standard input, never its command line.
import json
import sys
import time

# S, etcdctl and why: render/etcd_common.py, put before this script.

LOCAL = [S["localUrl"]]


def say(message):
    print(f"etcd auth ({S['cluster']}): {message}", flush=True)


def fail(message):
    print(f"etcd auth ({S['cluster']}) on {S['name']}: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def ctl(*args, input=None, what=None):
    r = etcdctl(LOCAL, *args, input=input)
    if r.returncode != 0:
        fail(f"{what or 'etcdctl ' + ' '.join(args)}: {why(r)}")
    return r.stdout


def listed(kind):
    return set(ctl(kind, "list").split())


def enabled():
    return "Status: true" in ctl("auth", "status")


def wait_for_quorum():
    # Day one, the first stack's member runs this before the other sites' members are up: bounded, then the fix.
    deadline = time.time() + S["quorumWaitS"]
    while etcdctl(LOCAL, "endpoint", "health", timeout="5s").returncode != 0:
        if time.time() > deadline:
            fail(
                f"etcd has no quorum after {S['quorumWaitS']} s (the other sites' members are not up yet): deploy their stacks, "
                "then run `pulumi up` on this one again (its Patroni members wait for etcd's auth meanwhile)"
            )
        time.sleep(3)


def paused_or_absent(scope):
    prefix = f"{S['namespace']}{scope}/"
    if not ctl("get", "--prefix", "--keys-only", prefix).split():
        return True
    config = ctl("get", "--print-value-only", f"{prefix}config").strip()
    try:
        return json.loads(config or "{}").get("pause") is True
    except ValueError:
        return False


def logs_in(user, password, key):
    # A read of a key the user may read, as the user: a wrong password fails the login itself.
    return etcdctl(LOCAL, "get", "--limit=1", "--keys-only", key, login=(user, password)).returncode == 0


def ensure_user(user, password, role, key):
    if user not in listed("user"):
        ctl("user", "add", user, "--interactive=false", input=password + "\n", what=f"adding user {user}")
        say(f"user {user} added")
    elif not (was_on and logs_in(user, password, key)):
        # Only when it differs (or auth is still off, where a login proves nothing): a new password revokes the user's tokens.
        ctl("user", "passwd", user, "--interactive=false", input=password + "\n", what=f"setting {user}'s password")
        say(f"user {user}: password set")
    # `user get` says "User: <name>" then "Roles: <role> ...".
    roles = [line.split(":", 1)[1].split() for line in ctl("user", "get", user).splitlines() if line.startswith("Roles:")]
    if role not in (roles[0] if roles else []):
        ctl("user", "grant-role", user, role, what=f"granting {role} to {user}")


wait_for_quorum()
was_on = enabled()
if not was_on:
    running = [c["scope"] for c in S["clusters"] if not paused_or_absent(c["scope"])]
    if running:
        fail(
            f"Patroni cluster {', '.join(running)} runs against this etcd and is not paused: turning etcd's auth on would cut it off. "
            "Pause it (`patronictl -c /etc/patroni/config.yml pause --wait` on one of its members), run `pulumi up` again, then `patronictl ... resume`"
        )
if "root" not in listed("role"):
    ctl("role", "add", "root")
ensure_user("root", S["rootPassword"], "root", "/")
for c in S["clusters"]:
    if c["role"] not in listed("role"):
        ctl("role", "add", c["role"])
    # Granted where not yet (read and write): a grant bumps the auth revision, which makes every token log in again.
    if ctl("role", "get", c["role"]).count(f"(prefix {c['prefix']})") < 2:
        ctl("role", "grant-permission", c["role"], "--prefix=true", "readwrite", c["prefix"], what=f"granting {c['prefix']} to {c['role']}")
    ensure_user(c["user"], c["password"], c["role"], c["prefix"])
if not was_on:
    ctl("auth", "enable")
say(f"auth {'on' if was_on else 'enabled'}: users root, {', '.join(c['user'] for c in S['clusters'])}")
