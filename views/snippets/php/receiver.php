<?php
// A receiver for hookrelay webhooks that checks every request's signature with the Standard
// Webhooks library for PHP:
//
//   composer require standard-webhooks/standard-webhooks
//
// Run it with the webhook's signing secret (Reveal, on the webhook's page) in WEBHOOK_SECRET,
// here with PHP's own web server (any server that runs PHP will do):
//
//   WEBHOOK_SECRET='whsec_...' php -S 0.0.0.0:8000 receiver.php
require __DIR__ . '/vendor/autoload.php';

use StandardWebhooks\Exception\WebhookVerificationException;
use StandardWebhooks\Webhook;

$secret = getenv('WEBHOOK_SECRET');
if ($secret === false || $secret === '') {
    http_response_code(500);
    exit('set WEBHOOK_SECRET to the webhook\'s signing secret');
}
$webhook = new Webhook($secret);

$body = file_get_contents('php://input');
// The library looks the headers up by their lower-case names.
$headers = array_change_key_case(getallheaders(), CASE_LOWER);
// Refused until verified, even if a malformed header makes PHP print a warning first.
http_response_code(400);
try {
    // Checks the signature over the exact bytes received, and that the timestamp is
    // within 5 minutes.
    $payload = $webhook->verify($body, $headers);
} catch (WebhookVerificationException $e) {
    exit('invalid signature');
}
// The body is hookrelay's: handle $payload here. A repeat carries the same webhook-id header.
error_log('verified ' . $headers['webhook-id'] . ' ' . $payload['type']);
http_response_code(204);
