"""A user's slow Python server: sleeps, then writes a large body in pieces; errors are http.server's tracebacks."""

import http.server
import socketserver
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.8)
        self.send_response(200)
        self.send_header("Content-Length", str(64 * 65536))
        self.end_headers()
        for _ in range(64):
            self.wfile.write(b"x" * 65536)
            time.sleep(0.01)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
