package jobs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// secretBytes decodes a Standard Webhooks secret ("whsec_" + base64).
func secretBytes(secret string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return nil, fmt.Errorf("decoding signing secret: %w", err)
	}
	return b, nil
}

// Sign returns the webhook-signature header value for one request: a "v1,<base64>" entry per
// secret, space-separated, over "<id>.<timestamp>.<body>" (standardwebhooks.com).
func Sign(secrets []string, msgID string, ts time.Time, body []byte) (string, error) {
	entries := make([]string, 0, len(secrets))
	unix := strconv.FormatInt(ts.Unix(), 10)
	for _, s := range secrets {
		key, err := secretBytes(s)
		if err != nil {
			return "", err
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write([]byte(unix))
		mac.Write([]byte{'.'})
		mac.Write(body)
		entries = append(entries, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(entries, " "), nil
}
