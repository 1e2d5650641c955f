// A receiver for hookrelay webhooks that checks every request's signature with the Standard
// Webhooks library for Node.js:
//
//   npm install standardwebhooks@1.1.1
//
// Run it with the webhook's signing secret (Reveal, on the webhook's page) in WEBHOOK_SECRET:
//
//   WEBHOOK_SECRET='whsec_...' node receiver.mjs
import { createServer } from "node:http";
import { Webhook } from "standardwebhooks";

const webhook = new Webhook(process.env.WEBHOOK_SECRET);
const port = Number(process.env.PORT || 8000);

createServer((req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    let payload;
    try {
      // Checks the signature over the exact bytes received, and that the timestamp is
      // within 5 minutes.
      payload = webhook.verify(body, req.headers);
    } catch (err) {
      res.writeHead(400, { "Content-Type": "text/plain" }).end("invalid signature");
      return;
    }
    // The body is hookrelay's: handle payload here. A repeat carries the same webhook-id header.
    console.log("verified", req.headers["webhook-id"], payload.type);
    res.writeHead(204).end();
  });
}).listen(port);
