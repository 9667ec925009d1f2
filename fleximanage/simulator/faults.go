package simulator

import (
	"encoding/binary"
	"hash/fnv"
	"net"
	"strconv"
	"sync"
	"time"
)

// Faults is what the simulator injects. Every decision is a function of the
// seed and a request or job counter, so the same sequence of requests meets
// the same faults.
type Faults struct {
	Seed int64
	// ErrorRate is the fraction of /api requests answered with one of
	// ErrorStatuses instead of being handled (nothing changes).
	ErrorRate float64
	// ErrorStatuses to pick from; default 500, 502, 503. 429 is allowed.
	ErrorStatuses []int
	// Burst429 answers Length consecutive requests with 429 after every
	// Every requests.
	Burst429 BurstSpec
	// Latency is added to every request.
	Latency time.Duration
	// FailJobs makes jobs fail.
	FailJobs []JobFault
}

// JobFault makes jobs fail: those of Device (a device name; empty = any)
// whose method is Method (tunnels, deltunnels, start, stop, upgrade, sync,
// modify, staticroutes, dhcp; empty = any). Times bounds how many fail
// (0 = all). Message is the device's error text.
type JobFault struct {
	Device  string `yaml:"device"`
	Method  string `yaml:"method"`
	Times   int    `yaml:"times"`
	Message string `yaml:"message"`
}

func (fs *FaultSpec) faults() *Faults {
	f := &Faults{Seed: fs.Seed, ErrorRate: fs.ErrorRate, ErrorStatuses: fs.ErrorStatuses, Latency: time.Duration(fs.Latency), FailJobs: fs.FailJobs}
	if fs.Burst429 != nil {
		f.Burst429 = *fs.Burst429
	}
	return f
}

type faultState struct {
	mu      sync.Mutex
	f       Faults
	reqs    uint64
	jobHits []int // failures handed out per FailJobs rule
}

func newFaultState(f *Faults) *faultState {
	fs := &faultState{}
	if f != nil {
		fs.set(*f)
	}
	return fs
}

func (fs *faultState) set(f Faults) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if len(f.ErrorStatuses) == 0 {
		f.ErrorStatuses = []int{500, 502, 503}
	}
	fs.f = f
	fs.reqs = 0
	fs.jobHits = make([]int, len(f.FailJobs))
}

// roll returns a repeatable number in [0,1) for counter n.
func roll(seed int64, n uint64) float64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(seed))
	binary.LittleEndian.PutUint64(b[8:], n)
	h.Write(b[:])
	return float64(h.Sum64()>>11) / float64(1<<53)
}

// request decides the fate of the next request: a status to answer instead
// of handling it (0 = handle it) and a delay.
func (fs *faultState) request() (status int, delay time.Duration) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.reqs++
	n := fs.reqs
	f := fs.f
	if b := f.Burst429; b.Every > 0 && b.Length > 0 {
		if pos := (n - 1) % uint64(b.Every+b.Length); pos >= uint64(b.Every) {
			return 429, f.Latency
		}
	}
	if f.ErrorRate > 0 && roll(f.Seed, n) < f.ErrorRate {
		i := int(roll(f.Seed^0x5bd1e995, n) * float64(len(f.ErrorStatuses)))
		return f.ErrorStatuses[min(i, len(f.ErrorStatuses)-1)], f.Latency
	}
	return 0, f.Latency
}

// jobFailure says whether a job of device/method must fail, and with what
// text.
func (fs *faultState) jobFailure(device, method string) (string, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, r := range fs.f.FailJobs {
		if (r.Device != "" && r.Device != device) || (r.Method != "" && r.Method != method) {
			continue
		}
		if r.Times > 0 && fs.jobHits[i] >= r.Times {
			continue
		}
		fs.jobHits[i]++
		msg := r.Message
		if msg == "" {
			msg = "simulated failure of " + method + " on " + device
		}
		return msg, true
	}
	return "", false
}

// SetFaults replaces the injected faults; the zero Faults turns them off.
func (s *Simulator) SetFaults(f Faults) { s.faults.set(f) }

// rateLimiter is flexiManage's limiter: a fixed window per client address,
// every counter reset together when the window ends.
type rateLimiter struct {
	mu         sync.Mutex
	max        int
	window     time.Duration
	retryAfter int
	resetAt    time.Time
	counts     map[string]int
}

func newRateLimiter(max int, window time.Duration, retryAfter int) *rateLimiter {
	return &rateLimiter{max: max, window: window, retryAfter: retryAfter, counts: map[string]int{}}
}

// hit counts a request from ip and returns the headers to set and whether
// the request is over the limit.
func (rl *rateLimiter) hit(ip string, now time.Time) (limit, remaining int, reset time.Time, over bool) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.resetAt.IsZero() {
		rl.resetAt = now.Add(rl.window)
	}
	for !now.Before(rl.resetAt) {
		rl.counts = map[string]int{}
		rl.resetAt = rl.resetAt.Add(rl.window)
	}
	rl.counts[ip]++
	c := rl.counts[ip]
	return rl.max, max(rl.max-c, 0), rl.resetAt, c > rl.max
}

// clientIP is the address the limiter keys on: with trust proxy on, the
// left-most X-Forwarded-For entry, else the peer address.
func clientIP(remoteAddr, xff string) string {
	if xff != "" {
		for i := 0; i < len(xff); i++ {
			if xff[i] == ',' {
				xff = xff[:i]
				break
			}
		}
		return trimSpace(xff)
	}
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}

func trimSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	for len(s) > 0 && s[len(s)-1] == ' ' {
		s = s[:len(s)-1]
	}
	return s
}

func itoa(n int) string { return strconv.Itoa(n) }
