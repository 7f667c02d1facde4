package memstore_test

import (
	"testing"

	"github.com/identsphere/mfa"
	"github.com/identsphere/mfa/memstore"
	"github.com/identsphere/mfa/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) mfa.Store { return memstore.New() })
}
