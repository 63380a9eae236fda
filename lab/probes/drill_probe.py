# Drill probes, run by the lab inside a lab host with the Debian 13 root's python3 and
# psycopg2. Bounded: every mode stops by itself after --duration seconds (or on SIGTERM).
# Prints one JSON event per line on stdout. The password comes from PGPASSWORD.
#   write: --port P --conns N --duration S --trial T   INSERT through HAProxy, one event per try
#   watch: --member NAME --duration S                  pg_is_in_recovery() of the local PostgreSQL
#   setup / count: --port P [--trial T]                create the table / list a trial's ids
import json, signal, sys, threading, time
import psycopg2

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
    c = psycopg2.connect(host="127.0.0.1", port=int(port), user="postgres", dbname="postgres", connect_timeout=1,
                         options="-c statement_timeout=5000")
    c.autocommit = True
    return c


def writer(n, port, trial, deadline):
    conn = None
    while not stop.is_set() and time.time() < deadline:
        t = time.time()
        try:
            if conn is None:
                conn = connect(port)
            with conn.cursor() as cur:
                cur.execute("INSERT INTO drill_writes(trial, writer) VALUES (%s, %s) RETURNING id", (trial, n))
                emit(t=t, done=time.time(), ok=True, id=cur.fetchone()[0], w=n)
            time.sleep(0.02)
        except Exception as e:
            emit(t=t, done=time.time(), ok=False, w=n, err=str(e).strip().split("\n")[0][:120])
            try:
                conn and conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.1)


if mode == "write":
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
elif mode == "setup":
    with connect(args["--port"]).cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS drill_writes (id bigserial PRIMARY KEY, trial text NOT NULL, writer int NOT NULL, at timestamptz NOT NULL DEFAULT now())")
    emit(ok=True)
elif mode == "count":
    with connect(args["--port"]).cursor() as cur:
        cur.execute("SELECT id FROM drill_writes WHERE trial = %s", (args["--trial"],))
        emit(ids=[r[0] for r in cur.fetchall()])
else:
    sys.exit("unknown mode " + mode)
