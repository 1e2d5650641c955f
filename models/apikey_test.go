package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

// A key found is accepted from memory for APIKeyCacheTTL; revoking it ends that at once in the
// instance that revokes, and after the TTL at the latest in one that missed the notification.
func TestAPIKeyCache(t *testing.T) {
	ctx := context.Background()
	dbtest.DB(t) // migrated
	open := func(ttl time.Duration) *models.DB {
		db, err := models.Open(ctx, dbtest.URL(), 4)
		require.NoError(t, err)
		t.Cleanup(db.Close)
		db.APIKeyCacheTTL = ttl
		return db
	}
	a, b := open(time.Hour), open(time.Hour)
	k, secret, err := a.CreateAPIKey(ctx, models.System, "cached", models.ScopeIngest)
	require.NoError(t, err)

	found, err := a.FindAPIKeyBySecret(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, k.ID, found.ID)
	require.True(t, models.APIKeyCached(a, secret))
	require.NotNil(t, found.LastUsedAt, "the first use is noted")

	// Revoked elsewhere, with nobody listening: a keeps it for its TTL, then forgets it when told.
	_, err = b.FindAPIKeyBySecret(ctx, secret)
	require.NoError(t, err)
	_, err = b.RevokeAPIKey(ctx, models.System, k.ID)
	require.NoError(t, err)
	_, err = a.FindAPIKeyBySecret(ctx, secret)
	require.NoError(t, err, "a does not look again within its TTL")
	_, err = b.FindAPIKeyBySecret(ctx, secret)
	require.ErrorIs(t, err, models.ErrNotFound, "the instance that revoked refuses at once")
	a.ForgetAPIKey(k.ID)
	_, err = a.FindAPIKeyBySecret(ctx, secret)
	require.ErrorIs(t, err, models.ErrNotFound)

	// The TTL bounds a missed notification.
	short := open(50 * time.Millisecond)
	k2, secret2, err := a.CreateAPIKey(ctx, models.System, "short", models.ScopeIngest)
	require.NoError(t, err)
	_, err = short.FindAPIKeyBySecret(ctx, secret2)
	require.NoError(t, err)
	_, err = b.RevokeAPIKey(ctx, models.System, k2.ID)
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err = short.FindAPIKeyBySecret(ctx, secret2); err != nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "the revoked key is still accepted after its TTL")
		time.Sleep(10 * time.Millisecond)
	}
	require.ErrorIs(t, err, models.ErrNotFound)

	// Made-up keys are not kept.
	_, err = a.FindAPIKeyBySecret(ctx, "hrk_madeup")
	require.ErrorIs(t, err, models.ErrNotFound)
	require.False(t, models.APIKeyCached(a, "hrk_madeup"))
}
