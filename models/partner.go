package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Partner is an organisation that receives webhooks.
type Partner struct {
	ID          string `gorm:"primaryKey"`
	Name        string
	Description string
	CreatedAt   time.Time
	UpdatedAt   time.Time
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

// PartnerInput is the editable part of a partner.
type PartnerInput struct {
	Name        string
	Description string
}

func (in *PartnerInput) validate() error {
	var ve ValidationError
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	switch {
	case in.Name == "":
		ve.Add("name", "Enter the partner's name.")
	case len([]rune(in.Name)) > 200:
		ve.Add("name", "Use at most 200 characters.")
	}
	if len([]rune(in.Description)) > 2000 {
		ve.Add("description", "Use at most 2,000 characters.")
	}
	return ve.Err()
}

func partnerNameTaken(err error) error {
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return &ValidationError{Fields: map[string]string{"name": "A partner with this name already exists."}}
	}
	return nil
}

// CreatePartner validates and stores a new partner.
func (db *DB) CreatePartner(ctx context.Context, in PartnerInput) (*Partner, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	p := &Partner{ID: NewID("ptn_"), Name: in.Name, Description: in.Description}
	if err := db.Gorm.WithContext(ctx).Create(p).Error; err != nil {
		if verr := partnerNameTaken(err); verr != nil {
			return nil, verr
		}
		return nil, fmt.Errorf("creating partner: %w", err)
	}
	return p, nil
}

// UpdatePartner validates and saves changes to partner id.
func (db *DB) UpdatePartner(ctx context.Context, id string, in PartnerInput) (*Partner, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	res := db.Gorm.WithContext(ctx).Model(&Partner{}).Where("id = ?", id).
		Updates(map[string]any{"name": in.Name, "description": in.Description, "updated_at": time.Now()})
	if res.Error != nil {
		if verr := partnerNameTaken(res.Error); verr != nil {
			return nil, verr
		}
		return nil, fmt.Errorf("updating partner %s: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, ErrNotFound
	}
	return db.FindPartnerByID(ctx, id)
}
