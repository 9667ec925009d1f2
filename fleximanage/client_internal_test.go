package fleximanage

// Unit tests of the client's unexported pieces: the request budget, error
// classification and parsing, retry timing, and the byte-preserving
// encoder behind UpdateDevice.

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// ---------------------------------------------------------------------------
// Budget

// maxInWindow returns the largest number of times that fall in any
// half-open interval [t, t+window).
func maxInWindow(times []time.Time, window time.Duration) int {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Before(ts[i].Add(window)); j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}

func TestBudgetNeverExceedsLimit(t *testing.T) {
	tests := []struct {
		name      string
		limit     int
		window    time.Duration
		workers   int
		perWorker int
		// pause is worker i's pause between requests, times i+1: the
		// requests then come at times that do not line up with the
		// window.
		pause time.Duration
	}{
		{name: "sequential", limit: 3, window: time.Minute, workers: 1, perWorker: 10},
		{name: "concurrent", limit: 5, window: 5 * time.Minute, workers: 4, perWorker: 6},
		{name: "limit of one", limit: 1, window: time.Second, workers: 3, perWorker: 3},
		{name: "flexiManage's default", limit: DefaultBudgetRequests, window: DefaultBudgetWindow, workers: 10, perWorker: 70},
		{name: "staggered", limit: 3, window: 10 * time.Second, workers: 3, perWorker: 12, pause: 1300 * time.Millisecond},
		{name: "staggered slow", limit: 4, window: time.Minute, workers: 5, perWorker: 10, pause: 7*time.Second + 300*time.Millisecond},
		{name: "back just before the window ends", limit: 1, window: 10 * time.Second, workers: 1, perWorker: 4, pause: 9500 * time.Millisecond},
		{name: "two back just before the window ends", limit: 2, window: 10 * time.Second, workers: 2, perWorker: 6, pause: 4700 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := NewBudget(tt.limit, tt.window)
				start := time.Now()
				var mu sync.Mutex
				var starts []time.Time
				var wg sync.WaitGroup
				for w := range tt.workers {
					wg.Go(func() {
						for i := range tt.perWorker {
							if i > 0 {
								time.Sleep(time.Duration(w+1) * tt.pause)
							}
							if err := b.Wait(t.Context()); err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							starts = append(starts, time.Now())
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				total := tt.workers * tt.perWorker
				if len(starts) != total {
					t.Fatalf("%d requests started, want %d", len(starts), total)
				}
				if got := maxInWindow(starts, tt.window); got > tt.limit {
					t.Errorf("%d requests started within one %v window, the budget is %d", got, tt.window, tt.limit)
				}
				// And the budget does not hold requests back longer than
				// it must: the last one starts as soon as the window of
				// the batch before it has passed.
				wantLast := time.Duration((total-1)/tt.limit) * tt.window
				if got := slices.MaxFunc(starts, func(a, b time.Time) int { return a.Compare(b) }).Sub(start); tt.pause == 0 && got != wantLast {
					t.Errorf("the last request started after %v, want %v", got, wantLast)
				}
			})
		})
	}
}

func TestBudgetSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(3, time.Minute)
		start := time.Now()
		var got []time.Duration
		for range 8 {
			if err := b.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			got = append(got, time.Since(start))
			time.Sleep(10 * time.Second)
		}
		// Tokens come back one window after they were spent: spends at
		// 0, 10, 20 s free up at 60, 70, 80 s.
		want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 60 * time.Second, 70 * time.Second, 80 * time.Second, 120 * time.Second, 130 * time.Second}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("start times mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestBudgetWaitHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(1, time.Minute)
		if err := b.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}

		// A deadline before the next token.
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait() past the deadline = %v, want DeadlineExceeded", err)
		}
		if got := time.Since(start); got != 10*time.Second {
			t.Errorf("Wait() returned after %v, want at the deadline (10s)", got)
		}

		// A cancellation while waiting.
		ctx, cancel = context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- b.Wait(ctx) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Wait() returned %v with no token free", err)
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Wait() after cancel = %v, want Canceled", err)
		}

		// The failed waits spent nothing: the one token comes back a
		// window after the first request.
		time.Sleep(time.Minute - time.Since(start))
		if got := b.Remaining(); got != 1 {
			t.Errorf("Remaining() one window after the only spend = %d, want 1", got)
		}

		// An ended context fails even with a token free, and spends none.
		ended, stop := context.WithCancel(t.Context())
		stop()
		if err := b.Wait(ended); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait(cancelled) = %v, want Canceled", err)
		}
		if got := b.Remaining(); got != 1 {
			t.Errorf("Remaining() after Wait(cancelled) = %d, want 1", got)
		}
	})
}

func TestBudgetRemaining(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBudget(3, time.Minute)
		var got []int
		record := func() { got = append(got, b.Remaining()) }
		record() // 3
		for range 3 {
			if err := b.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			record() // 2, 1, 0
			time.Sleep(10 * time.Second)
		}
		// Now 30 s: tokens spent at 0, 10, 20 s.
		time.Sleep(29 * time.Second)
		record() // 59 s: 0
		time.Sleep(time.Second)
		record() // 60 s: 1
		time.Sleep(10 * time.Second)
		record() // 70 s: 2
		time.Sleep(time.Hour)
		record() // all 3
		if diff := cmp.Diff([]int{3, 2, 1, 0, 0, 1, 2, 3}, got); diff != "" {
			t.Errorf("Remaining() mismatch (-want +got):\n%s", diff)
		}
		if n, w := b.Limit(); n != 3 || w != time.Minute {
			t.Errorf("Limit() = %d, %v; want 3, 1m", n, w)
		}
	})
}

func TestBudgetUnlimited(t *testing.T) {
	tests := []struct {
		name     string
		requests int
		window   time.Duration
	}{
		{name: "no requests", requests: 0, window: time.Minute},
		{name: "negative requests", requests: -1, window: time.Minute},
		{name: "no window", requests: 10, window: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.requests, tt.window)
			if b != nil {
				t.Fatalf("NewBudget(%d, %v) = %+v, want nil (unlimited)", tt.requests, tt.window, b)
			}
			for range 1000 {
				if err := b.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			if got := b.Remaining(); got != -1 {
				t.Errorf("Remaining() = %d, want -1", got)
			}
			if n, w := b.Limit(); n != 0 || w != 0 {
				t.Errorf("Limit() = %d, %v; want 0, 0", n, w)
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Errors

func TestClassify(t *testing.T) {
	tests := []struct {
		status int
		msg    string
		want   Kind
	}{
		{401, "No auth token", KindAuth},
		{401, "Invalid token used", KindAuth},
		{403, "You don't have permission to perform this operation", KindPermission},
		{429, "Request rate limit exceeded", KindRateLimited},
		{502, "Bad Gateway", KindTransient},
		{503, "Service Unavailable", KindTransient},
		{504, "", KindTransient},
		{404, "not found", KindNotFound},
		{404, "Device not found", KindNotFound},
		{404, "DHCP ID not found", KindNotFound},
		{500, `job "17" doesnt exist`, KindNotFound},
		{500, "Job not found in org", KindNotFound},
		{500, "Duplicated path labels names are not allowed", KindConflict},
		{400, "Path label is used by 1 devices, 2 tunnels", KindConflict},
		{400, "Removed label used by existing tunnels, please delete related tunnels before", KindConflict},
		{500, "Unassigned interface eth0 used by existing tunnels, please delete related tunnels before", KindConflict},
		{500, "Some tunnels were not found, try refresh and delete again", KindConflict},
		{500, "DHCP already configured for that interface", KindConflict},
		{500, "Only one device change is allowed at any time", KindConflict},
		{400, "Device must be first approved", KindInvalid},
		{400, "Setting the same path label on multiple WAN interfaces is not allowed", KindInvalid},
		{405, "PATCH method not allowed", KindInvalid},
		{500, "Organization query parameter must be specified for this operation", KindInvalid},
		{500, `Cast to ObjectId failed for value "x" (type string) at path "_id" for model "devices"`, KindInvalid},
		{500, "PathLabels validation failed: color: Path label color is invalid", KindInvalid},
		{500, "Apply method not found", KindInvalid},
		{500, "Device name must be set", KindInvalid},
		{500, "Internal Server Error", KindServer},
		{500, "", KindServer},
		{501, "Not Implemented", KindServer},
		{500, "Cannot read properties of undefined (reading 'length')", KindServer},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			if got := classify(tt.status, tt.msg); got != tt.want {
				t.Errorf("classify(%d, %q) = %s, want %s", tt.status, tt.msg, got, tt.want)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		kind      Kind
		want      string
		retryable bool
	}{
		{KindServer, "server", false},
		{KindTransient, "transient", true},
		{KindRateLimited, "rate-limited", true},
		{KindInvalid, "invalid", false},
		{KindNotFound, "not-found", false},
		{KindConflict, "conflict", false},
		{KindPermission, "permission", false},
		{KindAuth, "auth", false},
		{Kind(200), "Kind(200)", false},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.kind.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := tt.kind.Retryable(); got != tt.retryable {
				t.Errorf("%s.Retryable() = %v, want %v", tt.want, got, tt.retryable)
			}
		})
	}
}

func TestParseErrorBody(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name     string
		body     string
		wantMsg  string
		wantData string // "" = none
	}{
		{name: "middleware", body: `{"error":"No auth token"}`, wantMsg: "No auth token"},
		{name: "service, empty data", body: `{"error":"Device not found","code":404,"data":{}}`, wantMsg: "Device not found"},
		{name: "service, null data", body: `{"error":"Device name must be set","code":500,"data":null}`, wantMsg: "Device name must be set"},
		{name: "service, error codes", body: `{"error":"LAN subnets overlap","code":400,"data":{"errorCodes":["LAN_OVERLAPPING"]}}`,
			wantMsg: "LAN subnets overlap", wantData: `{"errorCodes":["LAN_OVERLAPPING"]}`},
		{name: "error is an object", body: `{"error":{"message":"bad"},"code":500}`, wantMsg: `{"message":"bad"}`},
		{name: "no error member", body: `{"message":"nope"}`, wantMsg: `{"message":"nope"}`},
		{name: "HTML from a proxy", body: "<html>\n<body>502 Bad Gateway</body>\n</html>", wantMsg: "<html>"},
		{name: "plain text", body: "  upstream connect error  \n", wantMsg: "upstream connect error"},
		{name: "empty", body: "", wantMsg: ""},
		{name: "long text is cut", body: long, wantMsg: long[:200]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, data := parseErrorBody([]byte(tt.body))
			if msg != tt.wantMsg || string(data) != tt.wantData {
				t.Errorf("parseErrorBody(%q) = %q, %s; want %q, %s", tt.body, msg, data, tt.wantMsg, tt.wantData)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		now := time.Now() // the bubble's clock stands still
		tests := []struct {
			name  string
			value string
			want  time.Duration
		}{
			{name: "empty", value: "", want: 0},
			{name: "seconds", value: "60", want: time.Minute},
			{name: "zero", value: "0", want: 0},
			{name: "spaces", value: " 7 ", want: 7 * time.Second},
			{name: "negative", value: "-5", want: 0},
			{name: "garbage", value: "soon", want: 0},
			{name: "HTTP date ahead", value: now.Add(90 * time.Second).UTC().Format(http.TimeFormat), want: 90 * time.Second},
			{name: "HTTP date passed", value: now.Add(-time.Hour).UTC().Format(http.TimeFormat), want: 0},
		}
		for _, tt := range tests {
			if got := parseRetryAfter(tt.value); got != tt.want {
				t.Errorf("%s: parseRetryAfter(%q) = %v, want %v", tt.name, tt.value, got, tt.want)
			}
		}
	})
}

func TestBackoffBounds(t *testing.T) {
	c := &Client{backoffBase: 100 * time.Millisecond, backoffMax: time.Second}
	tests := []struct {
		attempt int
		ceil    time.Duration
	}{
		{1, 100 * time.Millisecond},
		{2, 200 * time.Millisecond},
		{3, 400 * time.Millisecond},
		{4, 800 * time.Millisecond},
		{5, time.Second},
		{10, time.Second},
		{40, time.Second}, // the shift overflows
		{64, time.Second},
		{100, time.Second},
	}
	for _, tt := range tests {
		lo, hi := tt.ceil, time.Duration(0)
		for range 2000 {
			d := c.backoff(tt.attempt)
			if d <= 0 || d > tt.ceil {
				t.Fatalf("backoff(%d) = %v, want in (0, %v]", tt.attempt, d, tt.ceil)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Full jitter: the delays spread over the whole range.
		if lo > tt.ceil/4 || hi < tt.ceil*3/4 {
			t.Errorf("backoff(%d) spans [%v, %v], want most of (0, %v]", tt.attempt, lo, hi, tt.ceil)
		}
	}
}

// ---------------------------------------------------------------------------
// Byte-preserving encoding

type keepSample struct {
	Name   string     `json:"name"`
	Metric FlexString `json:"metric"`
	Tags   []string   `json:"tags"`
	Note   string     `json:"note,omitempty"`
	Skip   string     `json:"-"`
	hidden string
}

func TestMarshalKeeping(t *testing.T) {
	const received = `{"name":"a","metric":5,"tags":["x"],"extra":{"z":1,"a":[3,2,1]},"flag":null}`
	tests := []struct {
		name     string
		received string // "" = nothing received
		edit     func(*keepSample)
		want     map[string]string
	}{
		{
			name:     "unchanged keeps every received byte",
			received: received,
			edit:     func(*keepSample) {},
			// metric stays the number 5 although the field is a string.
			want: map[string]string{"name": `"a"`, "metric": `5`, "tags": `["x"]`, "extra": `{"z":1,"a":[3,2,1]}`, "flag": `null`},
		},
		{
			name:     "changed fields are re-encoded",
			received: received,
			edit:     func(s *keepSample) { s.Name, s.Metric = "b", "7" },
			want:     map[string]string{"name": `"b"`, "metric": `"7"`, "tags": `["x"]`, "extra": `{"z":1,"a":[3,2,1]}`, "flag": `null`},
		},
		{
			name:     "a cleared slice is [] not null",
			received: received,
			edit:     func(s *keepSample) { s.Tags = nil },
			want:     map[string]string{"name": `"a"`, "metric": `5`, "tags": `[]`, "extra": `{"z":1,"a":[3,2,1]}`, "flag": `null`},
		},
		{
			name:     "received null stays null while unchanged",
			received: `{"name":"a","tags":null}`,
			edit:     func(*keepSample) {},
			want:     map[string]string{"name": `"a"`, "tags": `null`},
		},
		{
			name:     "zero fields not received are left out",
			received: `{"name":"a"}`,
			edit:     func(*keepSample) {},
			want:     map[string]string{"name": `"a"`},
		},
		{
			name:     "set fields not received are written",
			received: `{"name":"a"}`,
			edit:     func(s *keepSample) { s.Note, s.Tags = "hi", []string{"y"} },
			want:     map[string]string{"name": `"a"`, "note": `"hi"`, "tags": `["y"]`},
		},
		{
			name: "nothing received",
			edit: func(s *keepSample) { s.Name, s.Skip, s.hidden = "n", "skip", "hidden" },
			want: map[string]string{"name": `"n"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v keepSample
			var kept Fields
			if tt.received != "" {
				var err error
				kept, err = unmarshalKeeping([]byte(tt.received), &v)
				if err != nil {
					t.Fatal(err)
				}
			}
			tt.edit(&v)
			out, err := marshalKeeping(v, kept)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("marshalKeeping() = %s: %v", out, err)
			}
			gotS := map[string]string{}
			for k, r := range got {
				gotS[k] = string(r)
			}
			if diff := cmp.Diff(tt.want, gotS); diff != "" {
				t.Errorf("marshalKeeping() members mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnmarshalKeepingRejectsNonObjects(t *testing.T) {
	for _, in := range []string{`[1]`, `"x"`, `{"name":`, ``} {
		var v keepSample
		if _, err := unmarshalKeeping([]byte(in), &v); err == nil {
			t.Errorf("unmarshalKeeping(%q) succeeded, want an error", in)
		}
	}
}

// TestDeviceRoundTrip decodes a device and encodes it again after editing
// one interface: every other member, modelled or not, comes back with its
// received bytes.
func TestDeviceRoundTrip(t *testing.T) {
	const in = `{"_id":"65a000000000000000000011","name":"hq","org":"65a000000000000000000001",` +
		`"ospf":{"routerId":"1.1.1.1","helloInterval":10},"bgp":{"neighbors":[],"enable":false},` +
		`"interfaces":[` +
		`{"_id":"i1","devId":"pci:0000:00:03.00","name":"eth0","type":"WAN","isAssigned":true,"metric":100,"IPv4Mask":"30",` +
		`"pathlabels":[{"_id":"l1","name":"mpls","color":"#2e86de","type":"Tunnel"}],"ospf":{"cost":null,"area":"0"},"dnsServers":["9.9.9.9"]},` +
		`{"_id":"i2","devId":"pci:0000:00:05.00","name":"eth2","type":"LAN","isAssigned":true,"metric":"0","pathlabels":[],"ospf":{"keyId":"","area":0}}],` +
		`"staticroutes":[{"_id":"r1","destination":"10.1.0.0/16","gateway":"10.0.0.254","metric":"","redistributeViaOSPF":false}],` +
		`"dhcp":[{"_id":"d1","interface":"pci:0000:00:05.00","rangeStart":"10.0.0.10","rangeEnd":"10.0.0.20","dns":[],"macAssign":[],"options":[{"option":"routers","code":"3","value":"10.0.0.1"}]}]}`
	var d Device
	if err := json.Unmarshal([]byte(in), &d); err != nil {
		t.Fatal(err)
	}
	orig := membersOf(t, []byte(in))

	t.Run("unchanged", func(t *testing.T) {
		out, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(orig, membersOf(t, out)); diff != "" {
			t.Errorf("re-encoded device mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("one interface edited", func(t *testing.T) {
		e := d
		e.Interfaces = slices.Clone(d.Interfaces)
		e.Interfaces[0].PathLabels = nil
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got := membersOf(t, out)
		for k, v := range orig {
			if k != "interfaces" && got[k] != v {
				t.Errorf("member %s = %s, want %s", k, got[k], v)
			}
		}
		var ifs, origIfs []json.RawMessage
		if err := json.Unmarshal([]byte(got["interfaces"]), &ifs); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(orig["interfaces"]), &origIfs); err != nil {
			t.Fatal(err)
		}
		want0 := membersOf(t, origIfs[0])
		want0["pathlabels"] = "[]"
		if diff := cmp.Diff(want0, membersOf(t, ifs[0])); diff != "" {
			t.Errorf("edited interface mismatch (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(membersOf(t, origIfs[1]), membersOf(t, ifs[1])); diff != "" {
			t.Errorf("untouched interface mismatch (-want +got):\n%s", diff)
		}
	})
}

func membersOf(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}
