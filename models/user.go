package models

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Roles a user can have.
const (
	RoleAdmin   = "admin"
	RoleStaff   = "staff"
	RolePartner = "partner"
)

// MinPasswordLength is the shortest password accepted.
const MinPasswordLength = 10

// User is a person who signs in to the web UI.
type User struct {
	ID             string `gorm:"primaryKey"`
	Email          string
	Name           string
	Role           string
	PartnerID      *string
	Partner        *Partner `gorm:"foreignKey:PartnerID"`
	PasswordHash   string
	SessionVersion int
	// MustChangePassword is set when someone else chose the password: the user must choose
	// their own at the next sign-in before doing anything else.
	MustChangePassword bool
	DisabledAt         *time.Time
	LastSignInAt       *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Disabled reports whether the user may no longer sign in.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// CheckPassword reports whether password is the user's.
func (u *User) CheckPassword(password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) == nil
}

// dummyHash lets a sign-in for an unknown email cost as much as one for a known email.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not-a-real-password"), bcrypt.DefaultCost)

// BurnPasswordCheck spends the time of one password check, so unknown emails cannot be told
// from wrong passwords by timing.
func BurnPasswordCheck(password string) {
	_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
}

// HashPassword hashes a password for storage.
func HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hashing password: %w", err)
	}
	return string(h), nil
}

// ValidatePassword checks a new password's strength, reporting under field.
func ValidatePassword(ve *Error, field, password string) {
	switch {
	case len(password) < MinPasswordLength:
		ve.Add(field, fmt.Sprintf("Use at least %d characters.", MinPasswordLength))
	case len(password) > 72:
		ve.Add(field, "Use at most 72 characters.")
	}
}

// NewUser is the input for creating a user.
type NewUser struct {
	Email     string
	Name      string
	Role      string
	PartnerID string
	Password  string
	// OwnPassword says the user chose Password themselves (hookrelay user create
	// --password-stdin); otherwise they must change it at their first sign-in.
	OwnPassword bool
}

func normalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// CreateUser validates and stores a new user, for actor.
func (db *DB) CreateUser(ctx context.Context, actor Actor, in NewUser) (*User, error) {
	var ve Error
	email := normalizeEmail(in.Email)
	if email == "" {
		ve.Add("email", "Enter an email address.")
	} else if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		ve.Add("email", "Enter a valid email address, like name@example.com.")
	}
	if len(in.Name) > 200 {
		ve.Add("name", "Use at most 200 characters.")
	}
	switch in.Role {
	case RoleAdmin, RoleStaff:
		if in.PartnerID != "" {
			ve.Add("partner_id", "Only partner users belong to a partner.")
		}
	case RolePartner:
		if in.PartnerID == "" {
			ve.Add("partner_id", "Choose the partner this user belongs to.")
		}
	default:
		ve.Add("role", "Choose admin, staff or partner.")
	}
	ValidatePassword(&ve, "password", in.Password)
	if err := ve.Err(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(in.Password) // slow on purpose: before the transaction
	if err != nil {
		return nil, err
	}
	u := &User{ID: NewID("usr_"), Email: email, Name: strings.TrimSpace(in.Name), Role: in.Role, PasswordHash: hash, SessionVersion: 1,
		MustChangePassword: !in.OwnPassword}
	if in.Role == RolePartner {
		u.PartnerID = &in.PartnerID
	}
	err = db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if u.PartnerID != nil {
			if err := tx.Where("id = ?", *u.PartnerID).Take(&Partner{}).Error; errors.Is(err, gorm.ErrRecordNotFound) {
				return nil, Invalid("partner_id", "No such partner.")
			} else if err != nil {
				return nil, fmt.Errorf("finding partner %s: %w", *u.PartnerID, err)
			}
		}
		if err := tx.Create(u).Error; err != nil {
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return nil, Invalid("email", "A user with this email already exists.")
			}
			return nil, fmt.Errorf("creating user %s: %w", email, err)
		}
		return &entry{action: "user.created", objectType: "user", objectID: u.ID, summary: fmt.Sprintf("Created %s user %s", u.Role, u.Email),
			details: map[string]any{"email": u.Email, "role": u.Role, "partner_id": u.PartnerID}}, nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// FindUserByID returns the user with id, with its partner loaded.
func (db *DB) FindUserByID(ctx context.Context, id string) (*User, error) {
	var u User
	err := db.Gorm.WithContext(ctx).Preload("Partner").Where("id = ?", id).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding user %s: %w", id, err)
	}
	return &u, nil
}

// FindUserByEmail returns the user with email (case-insensitive).
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*User, error) {
	var u User
	err := db.Gorm.WithContext(ctx).Preload("Partner").Where("lower(email) = ?", normalizeEmail(email)).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding user by email: %w", err)
	}
	return &u, nil
}

// FindUsers lists every user, admins first, then by email.
func (db *DB) FindUsers(ctx context.Context) ([]User, error) {
	var us []User
	err := db.Gorm.WithContext(ctx).Preload("Partner").
		Order("CASE role WHEN 'admin' THEN 0 WHEN 'staff' THEN 1 ELSE 2 END, lower(email)").Find(&us).Error
	if err != nil {
		return nil, fmt.Errorf("listing users: %w", err)
	}
	return us, nil
}

// CountUsers counts all users.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	if err := db.Gorm.WithContext(ctx).Model(&User{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("counting users: %w", err)
	}
	return n, nil
}

// setPassword replaces a user's password and ends all of the user's sessions.
func setPassword(tx *gorm.DB, id, password string, mustChange bool) (*User, error) {
	var ve Error
	ValidatePassword(&ve, "password", password)
	if err := ve.Err(); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	res := tx.Model(&User{}).Where("id = ?", id).Updates(map[string]any{
		"password_hash": hash, "session_version": gorm.Expr("session_version + 1"), "updated_at": time.Now(),
		"must_change_password": mustChange,
	})
	if res.Error != nil {
		return nil, fmt.Errorf("setting password of user %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	var u User
	if err := tx.Preload("Partner").Where("id = ?", id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("finding user %s: %w", id, err)
	}
	return &u, nil
}

// PasswordChange is a person's change of their own password.
type PasswordChange struct {
	Current, New, Confirm string
}

// ChangePassword sets u's own password (u is the actor), which ends u's sessions; the caller
// starts a new one for the session it serves.
func (db *DB) ChangePassword(ctx context.Context, u *User, c PasswordChange) (*User, error) {
	var ve Error
	if !u.CheckPassword(c.Current) {
		ve.Add("current", "This is not your current password.")
	}
	ValidatePassword(&ve, "new", c.New)
	if c.New != "" && c.New == c.Current {
		ve.Add("new", "Choose a password different from the current one.")
	}
	if c.New != c.Confirm {
		ve.Add("confirm", "The two new passwords differ.")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	var updated *User
	err := db.act(ctx, UserActor(u), func(tx *gorm.DB) (*entry, error) {
		var err error
		if updated, err = setPassword(tx, u.ID, c.New, false); err != nil {
			return nil, err
		}
		return &entry{action: "user.password_changed", objectType: "user", objectID: u.ID, summary: "Changed own password"}, nil
	})
	return updated, err
}

// ResetUserPassword gives user id a new random password, for actor, and returns it to be shown
// once. It ends the user's sessions.
func (db *DB) ResetUserPassword(ctx context.Context, actor Actor, id string) (*User, string, error) {
	password := rand.Text()
	var u *User
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		var err error
		if u, err = setPassword(tx, id, password, true); err != nil { // chosen by the admin, not the user
			return nil, err
		}
		return &entry{action: "user.password_reset", objectType: "user", objectID: id, summary: "Reset password of " + u.Email}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return u, password, nil
}

// SetUserDisabled disables (ending the user's sessions) or re-enables user id, for actor. No
// one can disable their own account.
func (db *DB) SetUserDisabled(ctx context.Context, actor Actor, id string, disabled bool) (*User, error) {
	if disabled && id == actor.ID {
		return nil, Errorf(ECONFLICT, "You cannot disable your own account.")
	}
	var u User
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := tx.Where("id = ?", id).Take(&u).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		} else if err != nil {
			return nil, fmt.Errorf("finding user %s: %w", id, err)
		}
		upd := map[string]any{"disabled_at": nil, "updated_at": time.Now()}
		e := &entry{action: "user.enabled", objectType: "user", objectID: id, summary: "enabled " + u.Email}
		if disabled {
			upd["disabled_at"] = time.Now()
			upd["session_version"] = gorm.Expr("session_version + 1")
			e.action, e.summary = "user.disabled", "disabled "+u.Email
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			return nil, fmt.Errorf("updating user %s: %w", id, err)
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// RecordSignIn notes a successful sign-in.
func (db *DB) RecordSignIn(ctx context.Context, id string) error {
	err := db.Gorm.WithContext(ctx).Model(&User{}).Where("id = ?", id).Update("last_sign_in_at", time.Now()).Error
	if err != nil {
		return fmt.Errorf("recording sign-in of %s: %w", id, err)
	}
	return nil
}

// FindUsersByPartner lists the users of one partner.
func (db *DB) FindUsersByPartner(ctx context.Context, partnerID string) ([]User, error) {
	var us []User
	if err := db.Gorm.WithContext(ctx).Where("partner_id = ?", partnerID).Order("lower(email)").Find(&us).Error; err != nil {
		return nil, fmt.Errorf("listing users of partner %s: %w", partnerID, err)
	}
	return us, nil
}

// UserChange is what an admin may change of another user: the name, the role and, for a
// partner user, the partner.
type UserChange struct {
	Name, Role, PartnerID string
}

// UpdateUser changes user id's name and role for actor. A partner user needs a partner; any
// other role belongs to none, so a partner user made staff or admin leaves their partner.
// A change of role or partner ends the user's sessions, so that the new access holds from the
// next sign-in on. No one changes their own role.
func (db *DB) UpdateUser(ctx context.Context, actor Actor, id string, in UserChange) (*User, error) {
	var ve Error
	in.Name = strings.TrimSpace(in.Name)
	if len(in.Name) > 200 {
		ve.Add("name", "Use at most 200 characters.")
	}
	switch in.Role {
	case RoleAdmin, RoleStaff:
		in.PartnerID = ""
	case RolePartner:
		if in.PartnerID == "" {
			ve.Add("partner_id", "Choose the partner this user belongs to.")
		}
	default:
		ve.Add("role", "Choose admin, staff or partner.")
	}
	if err := ve.Err(); err != nil {
		return nil, err
	}
	var u User
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", id).Take(&u).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, ErrNotFound
		} else if err != nil {
			return nil, fmt.Errorf("finding user %s: %w", id, err)
		}
		if id == actor.ID && in.Role != u.Role {
			return nil, Invalid("role", "You cannot change your own role; another admin can.")
		}
		var partnerID *string
		if in.PartnerID != "" {
			if err := tx.Where("id = ?", in.PartnerID).Take(&Partner{}).Error; errors.Is(err, gorm.ErrRecordNotFound) {
				return nil, Invalid("partner_id", "No such partner.")
			} else if err != nil {
				return nil, fmt.Errorf("finding partner %s: %w", in.PartnerID, err)
			}
			partnerID = &in.PartnerID
		}
		before := map[string]any{"name": u.Name, "role": u.Role, "partner_id": valueOf(u.PartnerID)}
		after := map[string]any{"name": in.Name, "role": in.Role, "partner_id": in.PartnerID}
		changes := changedFields(before, after)
		if len(changes) == 0 {
			return nil, nil // nothing changed: no entry
		}
		upd := map[string]any{"name": in.Name, "role": in.Role, "partner_id": partnerID, "updated_at": time.Now()}
		if in.Role != u.Role || in.PartnerID != valueOf(u.PartnerID) {
			upd["session_version"] = gorm.Expr("session_version + 1")
		}
		if err := tx.Model(&User{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			return nil, fmt.Errorf("updating user %s: %w", id, err)
		}
		u.Name, u.Role, u.PartnerID = in.Name, in.Role, partnerID
		return &entry{action: "user.updated", objectType: "user", objectID: id, summary: "Changed user " + u.Email, details: changes}, nil
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// valueOf is the string p points to, or "" for nil.
func valueOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
