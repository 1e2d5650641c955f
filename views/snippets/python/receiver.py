# A receiver for hookrelay webhooks that checks every request's signature with the Standard
# Webhooks library for Python:
#
#   pip install standardwebhooks==1.0.1
#
# Run it with the webhook's signing secret (Reveal, on the webhook's page) in WEBHOOK_SECRET:
#
#   WEBHOOK_SECRET='whsec_...' python3 receiver.py
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
port = int(os.environ.get("PORT", "8000"))


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            # Checks the signature over the exact bytes received, and that the timestamp is
            # within 5 minutes. ValueError: a header that is not even well-formed.
            payload = webhook.verify(body, dict(self.headers))
        except (WebhookVerificationError, ValueError):
            self.send_response(400)
            self.end_headers()
            self.wfile.write(b"invalid signature")
            return
        # The body is hookrelay's: handle payload here. A repeat carries the same webhook-id header.
        print("verified", self.headers["webhook-id"], payload["type"], flush=True)
        self.send_response(204)
        self.end_headers()

    do_PUT = do_POST


ThreadingHTTPServer(("", port), Receiver).serve_forever()
