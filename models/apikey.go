package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
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
//
// Every API request comes through here, and under load the look-up was a fifth of hookrelay's
// CPU (a round trip per request), so a key found is kept for APIKeyCacheTTL. A revocation ends
// it at once in the process that revokes, and through ChannelAPIKeys in every other instance
// (ForgetAPIKey); the TTL bounds what a missed notification can cost.
func (db *DB) FindAPIKeyBySecret(ctx context.Context, key string) (*APIKey, error) {
	if !strings.HasPrefix(key, apiKeyPrefix) || len(key) > 200 {
		return nil, ErrNotFound
	}
	hash := hashAPIKey(key)
	if k, ok := db.keys.get(string(hash), db.apiKeyCacheTTL()); ok {
		return &k, nil
	}
	// Taken before the read: a revocation forgotten from here on wins over what it finds.
	gen := db.keys.generation()
	// pgx directly: a third of the CPU that gorm's path through database/sql took under load.
	rows, err := db.Pool.Query(ctx, `SELECT id, name, scope, prefix, hash, created_by, created_at, last_used_at, revoked_at
		FROM api_keys WHERE hash = $1 AND revoked_at IS NULL`, hash)
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
		now := time.Now()
		k.LastUsedAt = &now
	}
	db.keys.put(string(hash), k, gen)
	return &k, nil
}

// ChannelAPIKeys carries the id of each key revoked, so that every instance stops accepting it
// at once.
const ChannelAPIKeys = "hookrelay_api_keys"

// DefaultAPIKeyCacheTTL is how long a key found stays accepted without a look at the database.
const DefaultAPIKeyCacheTTL = 2 * time.Second

func (db *DB) apiKeyCacheTTL() time.Duration {
	if db.APIKeyCacheTTL > 0 {
		return db.APIKeyCacheTTL
	}
	return DefaultAPIKeyCacheTTL
}

// ForgetAPIKey stops accepting the key with id from memory: it was revoked, here or in
// another instance. An empty id forgets every key (notifications may have been missed).
func (db *DB) ForgetAPIKey(id string) { db.keys.forget(id) }

// keyCache holds the keys found lately, by hash of their plaintext.
type keyCache struct {
	mu      sync.Mutex
	byHash  map[string]cachedKey
	forgets uint64 // how many forgets so far: a look-up that raced with one is not kept
}

type cachedKey struct {
	key APIKey
	at  time.Time
}

func (c *keyCache) get(hash string, ttl time.Duration) (APIKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[hash]
	if !ok || time.Since(e.at) > ttl {
		return APIKey{}, false
	}
	return e.key, true
}

func (c *keyCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.forgets
}

func (c *keyCache) put(hash string, k APIKey, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.forgets {
		return
	}
	if c.byHash == nil || len(c.byHash) > 10000 { // keys are few; a flood of made-up ones is not
		c.byHash = map[string]cachedKey{}
	}
	c.byHash[hash] = cachedKey{k, time.Now()}
}

func (c *keyCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgets++
	for h, e := range c.byHash {
		if id == "" || e.key.ID == id {
			delete(c.byHash, h)
		}
	}
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
		if err := tx.Exec(`SELECT pg_notify(?, ?)`, ChannelAPIKeys, k.ID).Error; err != nil {
			return nil, fmt.Errorf("announcing the revocation of %s: %w", id, err)
		}
		return &entry{action: "api_key.revoked", objectType: "api_key", objectID: k.ID,
			summary: fmt.Sprintf("Revoked key %q (%s)", k.Name, k.Prefix)}, nil
	})
	// Forgotten here once committed, whether or not this instance hears its own notification.
	db.ForgetAPIKey(id)
	if err != nil {
		return nil, err
	}
	return &k, nil
}
