package models

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"gorm.io/gorm"
)

// Partner is an organisation that receives webhooks.
type Partner struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	Description string
	// ContactEmails get mail when one of the partner's webhooks is disabled or enabled again.
	ContactEmails StringArray `gorm:"type:text[]"`
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// FindPartnerByID returns the partner with id.
func (db *DB) FindPartnerByID(ctx context.Context, id string) (*Partner, error) {
	var p Partner
	err := db.Gorm.WithContext(ctx).Where("id = ?", id).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding partner %s: %w", id, err)
	}
	return &p, nil
}

// FindPartnerByName returns the partner named name (case-insensitive).
func (db *DB) FindPartnerByName(ctx context.Context, name string) (*Partner, error) {
	var p Partner
	err := db.Gorm.WithContext(ctx).Where("lower(name) = lower(?)", strings.TrimSpace(name)).Take(&p).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("finding partner %q: %w", name, err)
	}
	return &p, nil
}

// FindPartners lists all partners by name.
func (db *DB) FindPartners(ctx context.Context) ([]Partner, error) {
	var ps []Partner
	if err := db.Gorm.WithContext(ctx).Order("lower(name)").Find(&ps).Error; err != nil {
		return nil, fmt.Errorf("listing partners: %w", err)
	}
	return ps, nil
}

// PartnerInput is the editable part of a partner. A nil field in an update leaves it as it is.
type PartnerInput struct {
	Name        *string
	Description *string
	// ContactEmails replaces the whole list when not nil; each must be a bare address.
	ContactEmails *[]string
}

// apply checks in and copies it onto p.
func (in PartnerInput) apply(p *Partner, isNew bool) error {
	var ve Error
	if in.Name != nil || isNew {
		p.Name = ""
		if in.Name != nil {
			p.Name = strings.TrimSpace(*in.Name)
		}
		switch {
		case p.Name == "":
			ve.Add("name", "Enter the partner's name.")
		case len([]rune(p.Name)) > 200:
			ve.Add("name", "Use at most 200 characters.")
		}
	}
	if in.Description != nil {
		p.Description = strings.TrimSpace(*in.Description)
		if len([]rune(p.Description)) > 2000 {
			ve.Add("description", "Use at most 2,000 characters.")
		}
	}
	if in.ContactEmails != nil {
		p.ContactEmails = checkContactEmails(*in.ContactEmails, &ve)
	} else if isNew {
		p.ContactEmails = StringArray{}
	}
	return ve.Err()
}

// MaxContactEmails is how many addresses a partner may list: enough for a team, few enough that
// one disabled webhook does not become a mass mailing.
const MaxContactEmails = 20

// checkContactEmails returns the addresses trimmed, adding a message per bad one to ve under
// its place in the list (contact_emails[2]), so the API and the form name the same entry.
func checkContactEmails(in []string, ve *Error) StringArray {
	out := make(StringArray, 0, len(in))
	if len(in) > MaxContactEmails {
		ve.Add("contact_emails", fmt.Sprintf("Give at most %d addresses.", MaxContactEmails))
		return out
	}
	seen := map[string]bool{}
	for i, raw := range in {
		field := fmt.Sprintf("contact_emails[%d]", i)
		addr := strings.TrimSpace(raw)
		if msg := contactEmailProblem(addr); msg != "" {
			ve.Add(field, msg)
			continue
		}
		if key := strings.ToLower(addr); seen[key] {
			ve.Add(field, fmt.Sprintf("%s is already in the list.", addr))
			continue
		} else {
			seen[key] = true
		}
		out = append(out, addr)
	}
	return out
}

// contactEmailProblem says why addr is not a bare email address that mail can go to, or "".
// net/mail decides what an address is; a display name, angle brackets or comments are refused
// so that what is stored is exactly the address a mail's To header will carry.
func contactEmailProblem(addr string) string {
	if addr == "" {
		return "Enter an email address."
	}
	if strings.IndexFunc(addr, func(r rune) bool { return r < 0x20 || r == 0x7f || unicode.IsControl(r) }) >= 0 {
		return "An email address must not contain control characters or line breaks."
	}
	if len(addr) > 254 {
		return "An email address has at most 254 characters."
	}
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return fmt.Sprintf("%q is not an email address; write it like ops@example.com.", addr)
	}
	if a.Name != "" || a.Address != addr {
		return fmt.Sprintf("Give the bare address (%s), without a name, brackets or comments.", a.Address)
	}
	at := strings.LastIndexByte(addr, '@')
	if domain := addr[at+1:]; !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return fmt.Sprintf("%q has no mail domain; write it like ops@example.com.", addr)
	}
	return ""
}

func (p *Partner) auditDetails() map[string]any {
	emails := []string(p.ContactEmails)
	if emails == nil {
		emails = []string{}
	}
	return map[string]any{"name": p.Name, "description": p.Description, "contact_emails": emails}
}

func partnerNameTaken(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return Invalid("name", "A partner with this name already exists.")
	}
	return nil
}

// CreatePartner validates and stores a new partner for actor.
func (db *DB) CreatePartner(ctx context.Context, actor Actor, in PartnerInput) (*Partner, error) {
	p := &Partner{ID: NewID("ptn_")}
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := in.apply(p, true); err != nil {
			return nil, err
		}
		if err := tx.Create(p).Error; err != nil {
			if verr := partnerNameTaken(err); verr != nil {
				return nil, verr
			}
			return nil, fmt.Errorf("creating partner: %w", err)
		}
		return &entry{action: "partner.created", objectType: "partner", objectID: p.ID,
			summary: "Created partner " + p.Name, details: p.auditDetails()}, nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// UpdatePartner validates and saves changes to partner id for actor.
func (db *DB) UpdatePartner(ctx context.Context, actor Actor, id string, in PartnerInput) (*Partner, error) {
	var p Partner
	err := db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		if err := lockRow(tx, forUpdate, &p, id); err != nil {
			return nil, err
		}
		before := p.auditDetails()
		if err := in.apply(&p, false); err != nil {
			return nil, err
		}
		changes := changedFields(before, p.auditDetails())
		if len(changes) == 0 {
			return nil, nil
		}
		if err := tx.Model(&p).Updates(map[string]any{"name": p.Name, "description": p.Description, "contact_emails": p.ContactEmails, "updated_at": time.Now()}).Error; err != nil {
			if verr := partnerNameTaken(err); verr != nil {
				return nil, verr
			}
			return nil, fmt.Errorf("updating partner %s: %w", id, err)
		}
		return &entry{action: "partner.updated", objectType: "partner", objectID: p.ID,
			summary: "Changed partner " + p.Name, details: changes}, nil
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// DeletePartner removes a partner that has no webhooks and no users left, for actor.
func (db *DB) DeletePartner(ctx context.Context, actor Actor, id string) error {
	return db.act(ctx, actor, func(tx *gorm.DB) (*entry, error) {
		var p Partner
		if err := lockRow(tx, forUpdate, &p, id); err != nil {
			return nil, err
		}
		var hooks, users int64
		if err := tx.Model(&Webhook{}).Where("partner_id = ?", id).Count(&hooks).Error; err != nil {
			return nil, fmt.Errorf("counting webhooks of partner %s: %w", id, err)
		}
		if err := tx.Model(&User{}).Where("partner_id = ?", id).Count(&users).Error; err != nil {
			return nil, fmt.Errorf("counting users of partner %s: %w", id, err)
		}
		if hooks > 0 || users > 0 {
			return nil, Errorf(ECONFLICT, "the partner still has %d webhooks and %d users; delete or move them first", hooks, users)
		}
		if err := tx.Where("id = ?", id).Delete(&Partner{}).Error; err != nil {
			return nil, fmt.Errorf("deleting partner %s: %w", id, err)
		}
		return &entry{action: "partner.deleted", objectType: "partner", objectID: p.ID,
			summary: "Deleted partner " + p.Name, details: p.auditDetails()}, nil
	})
}

// PartnerCounts is how much hangs off each partner.
type PartnerCounts struct {
	Webhooks, Users int
}

// CountPartnerChildren counts each partner's webhooks and users.
func (db *DB) CountPartnerChildren(ctx context.Context) (map[string]PartnerCounts, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT p.id, (SELECT count(*) FROM webhooks w WHERE w.partner_id = p.id), (SELECT count(*) FROM users u WHERE u.partner_id = p.id)
		FROM partners p`)
	if err != nil {
		return nil, fmt.Errorf("counting partner webhooks: %w", err)
	}
	defer rows.Close()
	out := map[string]PartnerCounts{}
	for rows.Next() {
		var id string
		var c PartnerCounts
		if err := rows.Scan(&id, &c.Webhooks, &c.Users); err != nil {
			return nil, fmt.Errorf("counting partner webhooks: %w", err)
		}
		out[id] = c
	}
	return out, rows.Err()
}

// FindPartnersPage lists partners newest first, a page at a time, with the next page's cursor.
func (db *DB) FindPartnersPage(ctx context.Context, after *Cursor, limit int) ([]Partner, *Cursor, error) {
	q := db.Gorm.WithContext(ctx).Order("created_at DESC, id DESC")
	if after != nil {
		q = q.Where("(created_at, id) < (?, ?)", after.At, after.ID)
	}
	limit = PageSize(limit)
	var ps []Partner
	if err := q.Limit(limit + 1).Find(&ps).Error; err != nil {
		return nil, nil, fmt.Errorf("listing partners: %w", err)
	}
	var next *Cursor
	if len(ps) > limit {
		ps = ps[:limit]
		next = &Cursor{At: ps[limit-1].CreatedAt, ID: ps[limit-1].ID}
	}
	return ps, next, nil
}
