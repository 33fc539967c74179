"""A webhook receiver for the `webhook` plugin's tests: checks every request with the
Standard Webhooks reference library (`standardwebhooks` on PyPI), which we did not write.

    python receiver.py JOURNAL SECRETS_JSON

SECRETS_JSON maps a path to the secret it verifies with ({"/all": "whsec_..."}). Serves HTTP
on 127.0.0.1 on a port the OS picks and prints that port on stdout. Each POST is verified:
204 when the library accepts it, 400 when it refuses (404 for a path without a secret). Every
request is appended to JOURNAL as one JSON line {path, verified, error, headers, body} before
the answer is sent. Exits when its stdin closes, so it never outlives the test.
"""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

JOURNAL = sys.argv[1]
SECRETS = json.loads(sys.argv[2])
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {key.lower(): value for key, value in self.headers.items()}
        secret = SECRETS.get(self.path)
        verified, error = False, None
        if secret is None:
            status, error = 404, f"no secret for {self.path}"
        else:
            try:
                Webhook(secret).verify(body, headers)
                verified, status = True, 204
            except Exception as exc:  # the library's refusal, whatever its type
                status, error = 400, f"{type(exc).__name__}: {exc}"
        line = {
            "path": self.path,
            "verified": verified,
            "error": error,
            "headers": headers,
            "body": body.decode("utf-8", "replace"),
        }
        with LOCK, open(JOURNAL, "a", encoding="utf-8") as journal:
            journal.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()  # until the test closes stdin or dies
    os._exit(0)


if __name__ == "__main__":
    main()
