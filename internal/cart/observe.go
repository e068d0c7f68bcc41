package cart

import (
	"context"
	"time"
)

// Op names a cart store operation, for metrics and tests.
type Op string

// The operations of a Store.
const (
	OpLines            Op = "lines"
	OpAdd              Op = "add"
	OpAddOnce          Op = "add_once"
	OpSet              Op = "set"
	OpRemove           Op = "remove"
	OpMerge            Op = "merge"
	OpClear            Op = "clear"
	OpSnapshot         Op = "snapshot"
	OpCompleteCheckout Op = "complete_checkout"
)

// Observer is told about every operation of an observed Store: metrics
// count them, tests assert how many a request costs.
type Observer func(op Op, took time.Duration, err error)

// Observe returns store reporting each operation to obs (store itself when
// obs is nil).
func Observe(store Store, obs Observer) Store {
	if obs == nil {
		return store
	}
	return observed{s: store, obs: obs}
}

type observed struct {
	s   Store
	obs Observer
}

var _ Store = observed{}

func (o observed) report(op Op, start time.Time, err error) { o.obs(op, time.Since(start), err) }

func (o observed) Lines(ctx context.Context, key Key) ([]Line, error) {
	start := time.Now()
	l, err := o.s.Lines(ctx, key)
	o.report(OpLines, start, err)
	return l, err
}

func (o observed) Add(ctx context.Context, key Key, productID int64, qty int) (int, error) {
	start := time.Now()
	n, err := o.s.Add(ctx, key, productID, qty)
	o.report(OpAdd, start, err)
	return n, err
}

func (o observed) AddOnce(ctx context.Context, key Key, productID int64, qty int, idem string) (int, bool, error) {
	start := time.Now()
	n, applied, err := o.s.AddOnce(ctx, key, productID, qty, idem)
	o.report(OpAddOnce, start, err)
	return n, applied, err
}

func (o observed) AddUpTo(ctx context.Context, key Key, productID int64, qty, limit int, idem string) (int, bool, error) {
	start := time.Now()
	n, applied, err := o.s.AddUpTo(ctx, key, productID, qty, limit, idem)
	op := OpAddOnce
	if idem == "" {
		op = OpAdd
	}
	o.report(op, start, err)
	return n, applied, err
}

func (o observed) Set(ctx context.Context, key Key, productID int64, qty int) error {
	start := time.Now()
	err := o.s.Set(ctx, key, productID, qty)
	o.report(OpSet, start, err)
	return err
}

func (o observed) Remove(ctx context.Context, key Key, productID int64) error {
	start := time.Now()
	err := o.s.Remove(ctx, key, productID)
	o.report(OpRemove, start, err)
	return err
}

func (o observed) Merge(ctx context.Context, from, to Key) error {
	start := time.Now()
	err := o.s.Merge(ctx, from, to)
	o.report(OpMerge, start, err)
	return err
}

func (o observed) Clear(ctx context.Context, key Key) error {
	start := time.Now()
	err := o.s.Clear(ctx, key)
	o.report(OpClear, start, err)
	return err
}

func (o observed) Snapshot(ctx context.Context, key Key) ([]Line, int64, error) {
	start := time.Now()
	l, gen, err := o.s.Snapshot(ctx, key)
	o.report(OpSnapshot, start, err)
	return l, gen, err
}

func (o observed) CompleteCheckout(ctx context.Context, key Key, gen int64, ordered []Line) error {
	start := time.Now()
	err := o.s.CompleteCheckout(ctx, key, gen, ordered)
	o.report(OpCompleteCheckout, start, err)
	return err
}
