package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Secret rules (SPEC "Delivery"): "whsec_" + base64 of 24 to 64 bytes; after a rotation the
// previous secret signs alongside the new one for RotationOverlap.
const (
	RotationOverlap = 24 * time.Hour
	minSecretBytes  = 24
	maxSecretBytes  = 64
	secretPrefix    = "whsec_"
)

// GenerateSecret makes a new signing secret: "whsec_" + base64 of 32 random bytes.
func GenerateSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secretPrefix + base64.StdEncoding.EncodeToString(b)
}

// ValidSecret reports why a typed secret is unusable, or "" when it is fine.
func ValidSecret(s string) string {
	raw, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return "Must start with whsec_ followed by base64, or be left empty to generate one."
	}
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		return "The part after whsec_ must be standard base64."
	}
	if len(b) < minSecretBytes || len(b) > maxSecretBytes {
		return fmt.Sprintf("Must encode %d to %d bytes; this one has %d.", minSecretBytes, maxSecretBytes, len(b))
	}
	return ""
}

// SigningSecrets are the secrets that sign a webhook's requests at one moment.
type SigningSecrets struct {
	Current string
	// Previous is the secret before the last rotation while it still signs ("" after).
	Previous      string
	PreviousUntil *time.Time
}

// All lists the secrets that sign, current first.
func (s SigningSecrets) All() []string {
	if s.Previous == "" {
		return []string{s.Current}
	}
	return []string{s.Current, s.Previous}
}

// SigningSecrets opens the secrets of w that sign requests made at now: the current one and,
// within RotationOverlap of a rotation, the previous one. This is the one place that rule lives.
func (s *Sealer) SigningSecrets(w *Webhook, now time.Time) (SigningSecrets, error) {
	var out SigningSecrets
	cur, err := s.Open(w.SecretEnc)
	if err != nil {
		return out, fmt.Errorf("opening secret of webhook %s: %w", w.ID, err)
	}
	out.Current = string(cur)
	if w.PreviousSecretEnc != nil && w.PreviousSecretExpiresAt != nil && now.Before(*w.PreviousSecretExpiresAt) {
		prev, err := s.Open(w.PreviousSecretEnc)
		if err != nil {
			return out, fmt.Errorf("opening previous secret of webhook %s: %w", w.ID, err)
		}
		out.Previous, out.PreviousUntil = string(prev), w.PreviousSecretExpiresAt
	}
	return out, nil
}

func (db *DB) sealer() (*Sealer, error) {
	if db.Sealer == nil {
		return nil, errors.New("no sealer configured for stored secrets")
	}
	return db.Sealer, nil
}

// RevealWebhookSecret shows actor the signing secrets of webhook id and records who looked.
func (db *DB) RevealWebhookSecret(ctx context.Context, actor Actor, id string) (SigningSecrets, error) {
	var out SigningSecrets
	sealer, err := db.sealer()
	if err != nil {
		return out, err
	}
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		var w Webhook
		if err := tx.Where("id = ?", id).Take(&w).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		} else if err != nil {
			return nil, fmt.Errorf("finding webhook %s: %w", id, err)
		}
		if out, err = sealer.SigningSecrets(&w, time.Now()); err != nil {
			return nil, err
		}
		return &entry{action: "webhook.secret_revealed", objectType: "webhook", objectID: w.ID,
			summary: "Revealed the signing secret of " + w.Name}, nil
	})
	return out, err
}

// RotateWebhookSecret gives webhook id a new secret; the old one keeps signing alongside it for
// RotationOverlap so receivers can switch without losing a message. It returns the secrets
// that sign from now on.
func (db *DB) RotateWebhookSecret(ctx context.Context, actor Actor, id string) (SigningSecrets, error) {
	var out SigningSecrets
	sealer, err := db.sealer()
	if err != nil {
		return out, err
	}
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		w, err := lockWebhook(tx, id)
		if err != nil {
			return nil, err
		}
		now := time.Now()
		secret := GenerateSecret()
		w.PreviousSecretEnc, w.SecretEnc = w.SecretEnc, sealer.Seal([]byte(secret))
		until := now.Add(RotationOverlap)
		w.PreviousSecretExpiresAt = &until
		if err := tx.Exec(`UPDATE webhooks SET previous_secret_enc = ?, previous_secret_expires_at = ?, secret_enc = ?, updated_at = ? WHERE id = ?`,
			w.PreviousSecretEnc, until, w.SecretEnc, now, id).Error; err != nil {
			return nil, fmt.Errorf("rotating secret of %s: %w", id, err)
		}
		if out, err = sealer.SigningSecrets(w, now); err != nil {
			return nil, err
		}
		return &entry{action: "webhook.secret_rotated", objectType: "webhook", objectID: w.ID,
			summary: "Rotated the signing secret of " + w.Name}, nil
	})
	return out, err
}
