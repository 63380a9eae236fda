# The lab's stand-in for Nextcloud on an app host (Nextcloud cannot be installed offline).
# Like Nextcloud, it answers /status.php, keeps rows in PostgreSQL through the site's HAProxy
# read-write port and files on the Gluster mount; every response says it is a probe.
#   POST /write?id=ID   insert a row and write a file, then read both back
#   GET  /verify?prefix=P   the ids with a row, and the ids with a file, under that prefix
# Usage: probe_app.py CONFIG.json   (dbhost, dbport, dbname, dbuser, dbpassword, dbssl, datadir, host, port)
import json, os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
import psycopg2

cfg = json.load(open(sys.argv[1]))
files = os.path.join(cfg["datadir"], "probe")
os.makedirs(files, exist_ok=True)
local = threading.local()
PROBE = "nextcloud-ha lab probe app, standing in for Nextcloud"


def db():
    c = getattr(local, "conn", None)
    if c is None or c.closed:
        c = psycopg2.connect(host=cfg["dbhost"], port=cfg["dbport"], dbname=cfg["dbname"], user=cfg["dbuser"], password=cfg["dbpassword"], **cfg["dbssl"], connect_timeout=2, options="-c statement_timeout=5000")
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS probe_writes (id text PRIMARY KEY, host text NOT NULL, at timestamptz NOT NULL DEFAULT now())")
        local.conn = c
    return c


class Handler(BaseHTTPRequestHandler):
    def reply(self, code, body):
        data = json.dumps({**body, "probe": PROBE, "host": cfg["host"]}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urlparse(self.path)
        q = parse_qs(url.query)
        try:
            if url.path == "/status.php":
                return self.reply(200, {"installed": True, "maintenance": False, "needsDbUpgrade": False})
            if url.path == "/verify":
                prefix = q["prefix"][0]
                with db().cursor() as cur:
                    cur.execute("SELECT id FROM probe_writes WHERE id LIKE %s", (prefix + "%",))
                    rows = [r[0] for r in cur.fetchall()]
                on_disk = [f[:-4] for f in os.listdir(files) if f.startswith(prefix) and f.endswith(".txt")]
                return self.reply(200, {"rows": rows, "files": on_disk})
            return self.reply(404, {"error": "not found"})
        except Exception as e:
            local.conn = None
            return self.reply(503, {"error": str(e).strip()[:200]})

    def do_POST(self):
        url = urlparse(self.path)
        try:
            if url.path != "/write":
                return self.reply(404, {"error": "not found"})
            ident = parse_qs(url.query)["id"][0]
            path = os.path.join(files, ident + ".txt")
            with open(path + ".tmp", "w") as f:
                f.write(ident)
                f.flush()
                os.fsync(f.fileno())
            os.rename(path + ".tmp", path)
            with db().cursor() as cur:
                cur.execute("INSERT INTO probe_writes (id, host) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING", (ident, cfg["host"]))
                cur.execute("SELECT count(*) FROM probe_writes WHERE id = %s", (ident,))
                row = cur.fetchone()[0] == 1
            content = open(path).read() == ident
            return self.reply(200 if row and content else 500, {"ok": row and content, "id": ident})
        except Exception as e:
            local.conn = None
            return self.reply(503, {"error": str(e).strip()[:200]})


ThreadingHTTPServer(("0.0.0.0", cfg["port"]), Handler).serve_forever()
