# Drill probes, run by the lab inside a lab host with the Debian 13 root's python3 and
# psycopg2. Bounded: every mode stops by itself after --duration seconds (or on SIGTERM).
# Prints one JSON event per line on stdout. The role, database and password come from PGUSER,
# PGDATABASE and PGPASSWORD.
#   write: --port P --conns N --duration S --trial T   INSERT through HAProxy, one event per try
#   watch: --member NAME --duration S                  pg_is_in_recovery() of the local PostgreSQL
#   setup / count: --port P [--trial T]                create the table / list a trial's ids
#   login: --port P --user U --dbname D [--host H --sslmode M --sslrootcert F --replication true]
#                                                      whether U logs in (PGPASSWORD) over TCP (to 127.0.0.1), and with TLS
#   http-write: --address A --domain D --cafile F --conns N --duration S --trial T
#               POST /write through NGINX (the probe app behind it writes a row and a file)
#   http-verify: --address A --domain D --cafile F --trial T   the trial's ids with a row / a file
import http.client, json, signal, ssl, sys, threading, time

try:
    import psycopg2
except ImportError:  # the HTTP modes do not need it
    psycopg2 = None

args = dict(zip(sys.argv[2::2], sys.argv[3::2]))
mode = sys.argv[1]
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
out_lock = threading.Lock()


def emit(**event):
    with out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


def connect(port):
    # The role and database from the environment (PGUSER, PGDATABASE): the app's for the drill table, the superuser's to watch a member.
    c = psycopg2.connect(host="127.0.0.1", port=int(port), connect_timeout=1, options="-c statement_timeout=5000")
    c.autocommit = True
    return c


def writer(n, port, trial, deadline):
    # Each attempt carries its own id, made here: a sequence's ids are handed out again by a
    # promoted replica, and a retried id could be found where only the failed attempt landed;
    # either could hide a lost write behind another one.
    conn, seq = None, 0
    while not stop.is_set() and time.time() < deadline:
        t = time.time()
        tag = "%d-%d" % (n, seq)
        seq += 1
        try:
            if conn is None:
                conn = connect(port)
            with conn.cursor() as cur:
                cur.execute("INSERT INTO drill_writes(trial, writer, tag) VALUES (%s, %s, %s)", (trial, n, tag))
                emit(t=t, done=time.time(), ok=True, id=tag, w=n)
            time.sleep(0.02)
        except Exception as e:
            emit(t=t, done=time.time(), ok=False, w=n, err=str(e).strip().split("\n")[0][:120])
            try:
                conn and conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.1)


def https():
    ctx = ssl.create_default_context(cafile=args["--cafile"])
    ctx.check_hostname = False  # connecting by address; the chain is still verified
    return http.client.HTTPSConnection(args["--address"], 443, context=ctx, timeout=5)


def http_writer(n, trial, deadline):
    conn, seq = None, 0
    while not stop.is_set() and time.time() < deadline:
        t = time.time()
        ident = "%s-%d-%d" % (trial, n, seq)
        seq += 1  # a new id for every attempt, as in writer()
        try:
            if conn is None:
                conn = https()
            conn.request("POST", "/write?id=" + ident, headers={"Host": args["--domain"]})
            res = conn.getresponse()
            body = json.loads(res.read() or b"{}")
            if res.status == 200 and body.get("ok"):
                emit(t=t, done=time.time(), ok=True, id=ident, w=n, via=body.get("host"))
                time.sleep(0.02)
            else:
                emit(t=t, done=time.time(), ok=False, w=n, err="%d %s" % (res.status, body.get("error", ""))[:120])
                time.sleep(0.1)
        except Exception as e:
            emit(t=t, done=time.time(), ok=False, w=n, err=str(e).strip()[:120])
            conn = None
            time.sleep(0.1)


if mode == "http-write":
    deadline = time.time() + float(args["--duration"])
    threads = [threading.Thread(target=http_writer, args=(i, args["--trial"], deadline)) for i in range(int(args["--conns"]))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
elif mode == "http-verify":
    c = https()
    c.request("GET", "/verify?prefix=" + args["--trial"], headers={"Host": args["--domain"]})
    res = c.getresponse()
    emit(status=res.status, **json.loads(res.read() or b"{}"))
elif mode == "write":
    deadline = time.time() + float(args["--duration"])
    threads = [threading.Thread(target=writer, args=(i, args["--port"], args["--trial"], deadline)) for i in range(int(args["--conns"]))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
elif mode == "watch":
    deadline = time.time() + float(args["--duration"])
    conn = None
    while not stop.is_set() and time.time() < deadline:
        t = time.time()
        try:
            if conn is None:
                conn = connect(5432)
            with conn.cursor() as cur:
                cur.execute("SELECT pg_is_in_recovery()")
                emit(t=t, member=args["--member"], writable=not cur.fetchone()[0])
        except Exception:
            emit(t=t, member=args["--member"], writable=None)
            conn = None
        time.sleep(0.1)
elif mode == "login":
    # TLS as the environment sets it (PGSSLMODE, PGSSLROOTCERT), unless --sslmode / --sslrootcert say otherwise.
    # --replication true: a physical replication connection (SQL cannot run on it: its TLS is not asked).
    tls = {k[2:]: v for k, v in args.items() if k in ("--sslmode", "--sslrootcert", "--replication")}
    try:
        c = psycopg2.connect(host=args.get("--host", "127.0.0.1"), port=int(args["--port"]), user=args["--user"], dbname=args["--dbname"], connect_timeout=5, **tls)
        ssl = None
        if "--replication" not in args:
            with c.cursor() as cur:
                cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                ssl = cur.fetchone()[0]
        c.close()
        emit(ok=True, ssl=ssl)
    except psycopg2.OperationalError as e:
        emit(ok=False, err=" ".join(str(e).split())[:240])
elif mode == "setup":
    with connect(args["--port"]).cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS drill_writes (id bigserial PRIMARY KEY, trial text NOT NULL, writer int NOT NULL, tag text NOT NULL, at timestamptz NOT NULL DEFAULT now())")
    emit(ok=True)
elif mode == "count":
    with connect(args["--port"]).cursor() as cur:
        cur.execute("SELECT tag FROM drill_writes WHERE trial = %s", (args["--trial"],))
        emit(ids=[r[0] for r in cur.fetchall()])
else:
    sys.exit("unknown mode " + mode)
