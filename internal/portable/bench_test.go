package portable

import (
	"context"
	"path/filepath"
	"testing"
)

func BenchmarkInsert(b *testing.B) {
	ctx := context.Background()
	s := &Schema{Meta: Meta{Format: FormatVersion}, Tables: []Table{{Name: "orders", Columns: []Column{
		{Name: "id", Kind: Integer}, {Name: "customer", Kind: Integer}, {Name: "created", Kind: TimestampTZ},
		{Name: "status", Kind: Text}, {Name: "total", Kind: Decimal}, {Name: "note", Kind: Text}, {Name: "items", Kind: JSON},
	}, PrimaryKey: []string{"id"}}}}
	w, err := Create(ctx, filepath.Join(b.TempDir(), "x.sqlite"), s)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		row := []any{int64(i), int64(i % 1000), "2024-03-01T13:45:00.123456+00:00", "delivered", "123.45", "Please leave it at the door, order 12345", `[{"sku": "ABCDEF0123", "qty": 2, "price": 12.5}]`}
		if err := w.Insert(ctx, &s.Tables[0], row); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := w.Commit(ctx); err != nil {
		b.Fatal(err)
	}
}
