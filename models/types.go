package models

import (
	"database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
)

// StringArray is a PostgreSQL text[] column for gorm.
type StringArray []string

var pgTypes = pgtype.NewMap()

// Scan reads a text[] value.
func (a *StringArray) Scan(src any) error {
	var s []string
	if err := pgTypes.SQLScanner(&s).Scan(src); err != nil {
		return fmt.Errorf("scanning text[]: %w", err)
	}
	*a = s
	return nil
}

// Value writes a text[] value.
func (a StringArray) Value() (driver.Value, error) {
	if a == nil {
		return "{}", nil
	}
	return []string(a), nil
}
