// A receiver for hookrelay webhooks that checks every request's signature with the Standard
// Webhooks library for Go:
//
//	go get github.com/standard-webhooks/standard-webhooks/libraries@v0.0.1
//
// Run it with the webhook's signing secret (Reveal, on the webhook's page) in WEBHOOK_SECRET:
//
//	WEBHOOK_SECRET='whsec_...' go run .
package main

import (
	"io"
	"log"
	"net/http"
	"os"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

func main() {
	secret := os.Getenv("WEBHOOK_SECRET")
	if secret == "" {
		log.Fatal("set WEBHOOK_SECRET to the webhook's signing secret")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		log.Fatal(err)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8000"
	}

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 2<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		// Checks the signature over the exact bytes received, and that the timestamp is
		// within 5 minutes.
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "invalid signature", http.StatusBadRequest)
			return
		}
		// The body is hookrelay's: handle it here. A repeat carries the same webhook-id header.
		log.Printf("verified %s: %s", r.Header.Get("webhook-id"), body)
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(":"+port, nil))
}
