package views

import (
	"embed"
	"fmt"
	"path"
)

// The receivers the webhook page offers, kept as real files so that the tests run the very
// text the page shows (web/snippets_test.go runs each against real deliveries).
//
//go:embed snippets/go/main.go snippets/node/receiver.mjs snippets/python/receiver.py snippets/php/receiver.php
var snippetFiles embed.FS

// Snippet is a small receiver, in one language, that verifies hookrelay's signatures with that
// language's stock Standard Webhooks library and answers 204, or 400 to anything not signed
// with the webhook's secret.
type Snippet struct {
	Key, Language string
	// Package and Version name the library as its package manager knows it.
	Package, Version string
	Install          string
	File, Run        string
	Code             string
}

// SecretVariable is the environment variable every snippet reads the signing secret from.
const SecretVariable = "WEBHOOK_SECRET"

var snippets = []Snippet{
	{Key: "go", Language: "Go", Package: "github.com/standard-webhooks/standard-webhooks/libraries", Version: "v0.0.1",
		Install: "go get github.com/standard-webhooks/standard-webhooks/libraries@v0.0.1",
		File:    "snippets/go/main.go", Run: "WEBHOOK_SECRET='whsec_...' go run ."},
	{Key: "node", Language: "Node.js", Package: "standardwebhooks", Version: "1.1.1",
		Install: "npm install standardwebhooks@1.1.1",
		File:    "snippets/node/receiver.mjs", Run: "WEBHOOK_SECRET='whsec_...' node receiver.mjs"},
	{Key: "python", Language: "Python", Package: "standardwebhooks", Version: "1.0.1",
		Install: "pip install standardwebhooks==1.0.1",
		File:    "snippets/python/receiver.py", Run: "WEBHOOK_SECRET='whsec_...' python3 receiver.py"},
	{Key: "php", Language: "PHP", Package: "standard-webhooks/standard-webhooks", Version: "(git tag libraries/v0.0.1)",
		Install: "composer require standard-webhooks/standard-webhooks",
		File:    "snippets/php/receiver.php", Run: "WEBHOOK_SECRET='whsec_...' php -S 0.0.0.0:8000 receiver.php"},
}

func init() {
	for i := range snippets {
		b, err := snippetFiles.ReadFile(snippets[i].File)
		if err != nil {
			panic(fmt.Sprintf("reading embedded snippet %s: %v", snippets[i].File, err)) // embedded at build time
		}
		snippets[i].Code = string(b)
	}
}

// Snippets returns the receivers in the order the page shows them.
func Snippets() []Snippet { return append([]Snippet(nil), snippets...) }

// fileName is the snippet's file as a user would save it.
func (s Snippet) fileName() string { return path.Base(s.File) }
