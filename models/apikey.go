package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
)

// API key scopes (SPEC "Management API").
const (
	ScopeIngest = "ingest"
	ScopeAdmin  = "admin"
)

// apiKeyPrefix starts every key so that leaked keys are easy to recognise and to scan for.
const apiKeyPrefix = "hrk_"

// APIKey is a credential for the JSON API. Only a hash of the key is stored.
type APIKey struct {
	ID         string `gorm:"primaryKey"`
	Name       string
	Scope      string
	Prefix     string
	Hash       []byte
	CreatedBy  *string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// Allows reports whether the key may call an endpoint that needs scope.
func (k *APIKey) Allows(scope string) bool {
	return k.Scope == ScopeAdmin || k.Scope == scope
}

func hashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// CreateAPIKey makes a new key for actor and returns it with its plaintext, which is never
// stored and so can be shown only this once.
func (db *DB) CreateAPIKey(ctx context.Context, actor Actor, name, scope string) (*APIKey, string, error) {
	var ve Error
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		ve.Add("name", "Name the key after who or what uses it.")
	case len([]rune(name)) > 200:
		ve.Add("name", "Use at most 200 characters.")
	}
	if scope != ScopeIngest && scope != ScopeAdmin {
		ve.Add("scope", "Choose ingest or admin.")
	}
	if err := ve.Err(); err != nil {
		return nil, "", err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	plain := apiKeyPrefix + base64.RawURLEncoding.EncodeToString(raw)
	k := &APIKey{ID: NewID("key_"), Name: name, Scope: scope, Prefix: plain[:len(apiKeyPrefix)+6], Hash: hashAPIKey(plain)}
	if actor.ID != "" {
		k.CreatedBy = &actor.ID
	}
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := tx.Create(k).Error; err != nil {
			return nil, fmt.Errorf("creating API key: %w", err)
		}
		return &entry{action: "api_key.created", objectType: "api_key", objectID: k.ID,
			summary: fmt.Sprintf("Created %s key %q (%s)", k.Scope, k.Name, k.Prefix), details: map[string]any{"name": k.Name, "scope": k.Scope}}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return k, plain, nil
}

// FindAPIKeyBySecret returns the live (not revoked) key whose plaintext is key, and notes its
// use at most once a minute to keep the write load of busy keys low.
func (db *DB) FindAPIKeyBySecret(ctx context.Context, key string) (*APIKey, error) {
	if !strings.HasPrefix(key, apiKeyPrefix) || len(key) > 200 {
		return nil, ErrNotFound
	}
	// Every API request comes through here: pgx directly, a third of the CPU that gorm's
	// path through database/sql took under load.
	rows, err := db.Pool.Query(ctx, `SELECT id, name, scope, prefix, hash, created_by, created_at, last_used_at, revoked_at
		FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hashAPIKey(key))
	if err != nil {
		return nil, fmt.Errorf("finding API key: %w", err)
	}
	k, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[APIKey])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding API key: %w", err)
	}
	if k.LastUsedAt == nil || time.Since(*k.LastUsedAt) > time.Minute {
		if _, err := db.Pool.Exec(ctx, `UPDATE api_keys SET last_used_at = now() WHERE id = $1`, k.ID); err != nil {
			return nil, fmt.Errorf("noting use of API key %s: %w", k.ID, err)
		}
	}
	return &k, nil
}

// FindAPIKeys lists every key, live ones first, newest first.
func (db *DB) FindAPIKeys(ctx context.Context) ([]APIKey, error) {
	var ks []APIKey
	if err := db.Gorm.WithContext(ctx).Order("revoked_at IS NOT NULL, created_at DESC").Find(&ks).Error; err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	return ks, nil
}

// FindAPIKeyByID returns the key with id.
func (db *DB) FindAPIKeyByID(ctx context.Context, id string) (*APIKey, error) {
	var k APIKey
	err := db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding API key %s: %w", id, err)
	}
	return &k, nil
}

// RevokeAPIKey stops key id from working, for actor. Revoking a revoked key changes nothing.
func (db *DB) RevokeAPIKey(ctx context.Context, actor Actor, id string) (*APIKey, error) {
	var k APIKey
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := lockRow(tx, forUpdate, &k, id); err != nil {
			return nil, err
		}
		if k.RevokedAt != nil {
			return nil, nil
		}
		now := time.Now()
		if err := tx.Model(&k).Update("revoked_at", now).Error; err != nil {
			return nil, fmt.Errorf("revoking API key %s: %w", id, err)
		}
		k.RevokedAt = &now
		return &entry{action: "api_key.revoked", objectType: "api_key", objectID: k.ID,
			summary: fmt.Sprintf("Revoked key %q (%s)", k.Name, k.Prefix)}, nil
	})
	if err != nil {
		return nil, err
	}
	return &k, nil
}
