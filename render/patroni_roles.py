# The roles step of a Patroni cluster (render/patroniCluster.ts puts SETTINGS, with the new
# passwords, and patroni_common.py before it): run by `pulumi up` on one member as
# `sudo -u postgres python3 -`, the script on stdin, BEFORE any member's or consumer's converge
# step. A password rotates in this order: the role's password changes on the primary here (and
# reaches the replicas by replication); then the converge steps deliver the new password to
# every file that holds it (Patroni's config, the app's) and reload. Connections open at the
# change keep working: PostgreSQL authenticates at connect. A role whose stored SCRAM verifier
# already matches the new password is left alone, so a re-run changes nothing. The server never
# sees a password in clear: the verifier is computed here and set as it is.
import base64
import hashlib
import hmac

ITERATIONS = 4096  # PostgreSQL's scram_iterations default


def b64(raw):
    return base64.b64encode(raw).decode()


def verifier(password, salt=None, iterations=ITERATIONS):
    """A SCRAM-SHA-256 verifier (RFC 5802, 7677), in PostgreSQL's format. The plan's passwords are letters and digits: SASLprep leaves them as they are."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server = hmac.new(salted, b"Server Key", "sha256").digest()
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored)}:{b64(server)}"


def matches(stored, password):
    """Whether a stored verifier is of this password."""
    try:
        method, rest = stored.split("$", 1)
        params, _ = rest.split("$", 1)
        iterations, salt = params.split(":")
        return method == "SCRAM-SHA-256" and hmac.compare_digest(verifier(password, base64.b64decode(salt), int(iterations)), stored)
    except (AttributeError, ValueError):
        return False


if S["standby"]:  # noqa: F821
    say("a standby cluster: its roles are the primary cluster's, replicated; nothing to change here")
    sys.exit(0)
# Day one: the bootstrap creates the roles with the plan's passwords.
if not bootstrapped():
    say("not bootstrapped yet: the bootstrap sets the roles' passwords; nothing to change")
    sys.exit(0)
wait("the cluster answering with a leader", lambda: leader_name() is not None, S["memberSeconds"])

new_superuser = next(r["password"] for r in S["roles"] if r["role"] == local["postgresql"]["authentication"]["superuser"]["username"])
conn = superuser_connect([new_superuser])
try:
    with conn.cursor() as cur:
        changed = []
        for r in S["roles"]:
            cur.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (r["role"],))
            row = cur.fetchone()
            if row is None:
                fail(f"the role {r['role']} does not exist on the primary; it is created when the cluster bootstraps")
            if not matches(row[0], r["password"]):
                # The verifier as a literal: an identifier cannot be a parameter, and the role names are the platform's own.
                cur.execute(f'ALTER ROLE "{r["role"]}" PASSWORD %s', (verifier(r["password"]),))
                changed.append(r["role"])
        conn.commit()
        conn.autocommit = True
        if not changed:
            say("every role's password is as planned")
            sys.exit(0)
        done.append(f"passwords of {', '.join(changed)} changed on the primary")
        say(f"passwords changed on the primary: {', '.join(changed)}; the converge steps deliver them to their consumers next")
        # The replicas have it once they replayed the change: a consumer may connect to one next.
        cur.execute("SELECT pg_current_wal_lsn()")
        lsn = cur.fetchone()[0]

        def replayed():
            cur.execute("SELECT count(*) FROM pg_stat_replication WHERE replay_lsn IS NULL OR replay_lsn < %s", (lsn,))
            return cur.fetchone()[0] == 0

        wait("every replica replaying the new passwords", replayed, S["gateSeconds"])
finally:
    conn.close()
