package ledger_test

import (
	"bytes"
	"testing"

	"github.com/nhs-esr/jobplan-hub/transport/ledger"
)

// TestRecordWithItsKeyIsStoredAsGiven: a record whose key the caller
// worked out (the hub's converter) is queued under that key with its
// payload as given; one without is canonicalised and keyed here, as
// always. For a record in canonical form the two are the same delivery.
func TestRecordWithItsKeyIsStoredAsGiven(t *testing.T) {
	l := open(t, t.TempDir())
	id := claim(t, l, "a.csv")
	plain := rec("10000001", "2026-04-01", 1, "7.50")
	canonical, err := ledger.Canonical(plain.Payload)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ledger.Key(plain.Payload)
	given := ledger.Record{AssignmentNumber: plain.AssignmentNumber, EffectiveDate: plain.EffectiveDate, Line: 1, Payload: canonical, Key: key}

	if res := enqueue(t, l, id, "a", given); res.Enqueued != 1 {
		t.Fatalf("enqueue with the key: %+v", res)
	}
	if res := enqueue(t, l, id, "a", plain); res.Duplicates != 1 {
		t.Errorf("the same record without its key: %+v, want a duplicate of the one with it", res)
	}
	ds := due(t, l, "a")
	if len(ds) != 1 || ds[0].Key != key || !bytes.Equal(ds[0].Payload, canonical) {
		t.Fatalf("queued %+v, want key %s payload %s", ds, key, canonical)
	}

	// The ledger takes a given key and payload as they are.
	odd := ledger.Record{AssignmentNumber: "10000002", EffectiveDate: plain.EffectiveDate, Line: 2, Payload: []byte(`{"as":"given"}`), Key: "made-by-the-caller"}
	enqueue(t, l, id, "b", odd)
	if ds := due(t, l, "b"); len(ds) != 1 || ds[0].Key != "made-by-the-caller" || string(ds[0].Payload) != `{"as":"given"}` {
		t.Errorf("queued %+v, want the key and payload given", ds)
	}
}
