package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// createTable is the DDL of the package documentation, for a quoted table.
const createTable = `CREATE TABLE IF NOT EXISTS %s (
	name       text PRIMARY KEY,
	version    bigint NOT NULL,
	data       bytea NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now()
)`

// lockClass is the first key of the advisory lock that serializes the
// creation of a table by Stores starting together (concurrent CREATE TABLE
// IF NOT EXISTS statements can fail on each other); the second is a hash of
// the table's name.
const lockClass = 0x6a776b73 // "jwks"

// ensureTable makes the table if there is none, then checks that the Store
// can read it. A table that exists needs no privilege on its schema.
func (s *Store) ensureTable(ctx context.Context, name string) error {
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table).Scan(&exists); err != nil {
		return fmt.Errorf("pgstore: looking for table %s: %w", name, err)
	}
	if !exists {
		made := false
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, int32(lockClass), s.table); err != nil {
				return err
			}
			// Another Store may have made it while this one waited.
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.table).Scan(&exists); err != nil || exists {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(createTable, s.table))
			made = err == nil
			return err
		})
		if err != nil {
			return fmt.Errorf("pgstore: making table %s%s: %w", name, privilegeHint(err), err)
		}
		if made {
			s.log.Info("pgstore: made the table")
		}
	}
	_, err := s.pool.Exec(ctx, `SELECT name, version, data, updated_at FROM `+s.table+` LIMIT 0`)
	if err != nil {
		return fmt.Errorf("pgstore: reading table %s%s: %w", name, privilegeHint(err), err)
	}
	return nil
}

// privilegeHint tells what to do about a missing privilege.
func privilegeHint(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
		return " (grant the privileges the package documentation lists, or make the table with its DDL)"
	}
	return ""
}
