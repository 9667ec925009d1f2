package fleximanage

import (
	"context"
	"sync"
	"time"
)

// DefaultBudgetRequests and DefaultBudgetWindow are flexiManage's default
// rate limit: 300 requests per 5 minutes per client address.
const (
	DefaultBudgetRequests = 300
	DefaultBudgetWindow   = 5 * time.Minute
)

// Budget is the client-side request budget: at most Requests requests in any
// Window. It is a token bucket whose tokens come back one Window after they
// were spent, rather than at a steady rate: a steady refill would let a burst
// of Requests plus the refill land inside one of flexiManage's fixed 5-minute
// windows, which is exactly what it must never do. One Budget is shared by
// every request of a process that talks to the same flexiManage, retries and
// job polls included.
//
// The zero value is not usable; call NewBudget. A nil *Budget allows every
// request.
type Budget struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	spent  []time.Time // ring of the last `limit` spend times, oldest at next
	next   int
}

// NewBudget returns a budget of requests per window. requests <= 0 means no
// limit.
func NewBudget(requests int, window time.Duration) *Budget {
	if requests <= 0 || window <= 0 {
		return nil
	}
	return &Budget{limit: requests, window: window, spent: make([]time.Time, 0, requests)}
}

// Wait blocks until a request may be sent, then spends one token. It
// returns ctx's error if ctx ends first (and spends nothing).
func (b *Budget) Wait(ctx context.Context) error {
	if b == nil {
		return ctx.Err()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.mu.Lock()
		now := time.Now()
		if len(b.spent) < b.limit {
			b.spent = append(b.spent, now)
			b.mu.Unlock()
			return nil
		}
		freeAt := b.spent[b.next].Add(b.window)
		if !now.Before(freeAt) {
			b.spent[b.next] = now
			b.next = (b.next + 1) % b.limit
			b.mu.Unlock()
			return nil
		}
		b.mu.Unlock()
		t := time.NewTimer(freeAt.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Remaining returns how many requests may be sent right now without waiting.
// A nil budget reports -1 (unlimited).
func (b *Budget) Remaining() int {
	if b == nil {
		return -1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.spent) < b.limit {
		return b.limit - len(b.spent)
	}
	now := time.Now()
	free := 0
	for i := range b.limit {
		if !now.Before(b.spent[(b.next+i)%b.limit].Add(b.window)) {
			free++
		} else {
			break // the ring is in spend order: the rest are newer
		}
	}
	return free
}

// Limit returns the budget's request count and window.
func (b *Budget) Limit() (int, time.Duration) {
	if b == nil {
		return 0, 0
	}
	return b.limit, b.window
}
