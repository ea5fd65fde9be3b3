#!/usr/bin/env python3
"""A minimal BitTorrent HTTP tracker for bench/swarm.sh (loopback only).

Usage: tracker.py PORT. Answers every announce with the compact list of the
other peers that announced the same info-hash (BEP 3, BEP 23).
"""
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

peers = {}


class Announce(BaseHTTPRequestHandler):
    def do_GET(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query, encoding="latin-1")
        ih = q["info_hash"][0].encode("latin-1")
        me = (self.client_address[0], int(q["port"][0]))
        known = peers.setdefault(ih, set())
        others = [p for p in known if p != me]
        if q.get("event", [""])[0] != "stopped":
            known.add(me)
        compact = b"".join(bytes(map(int, h.split("."))) + p.to_bytes(2, "big") for h, p in others)
        body = b"d8:intervali2e5:peers%d:%se" % (len(compact), compact)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Announce).serve_forever()
