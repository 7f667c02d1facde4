package sqlstore

import "context"

// MigrateUpTo applies the migrations up to version only, for the upgrade
// test: it builds a database as an older release left it.
func (s *Store) MigrateUpTo(ctx context.Context, version int) error {
	all, err := s.migrations()
	if err != nil {
		return err
	}
	var ms []migration
	for _, m := range all {
		if m.version <= version {
			ms = append(ms, m)
		}
	}
	return s.migrate(ctx, ms)
}
