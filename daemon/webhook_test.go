package daemon_test

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flexiwan-gitops/reconciler/daemon"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
)

// TestWebhook sends each kind of webhook request to a running daemon and
// checks the answer, whether a reconcile followed, and the counter.
func TestWebhook(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	head := r.commit("core", topology(coreYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{}), fastRetry).start()
	h.waitStatus("the start run", 30*time.Second, appliedRev(head))

	applied := head
	big := `{"ref":"refs/heads/main","after":"` + head + `","pad":"` + strings.Repeat("x", daemon.MaxWebhookBody) + `"}`
	exactly := func(rev string) string {
		s := `{"ref":"refs/heads/main","after":"` + rev + `","pad":"`
		return s + strings.Repeat("y", daemon.MaxWebhookBody-len(s)-2) + `"}`
	}
	tampered := func(rev string) *http.Request {
		r := githubPush(webhookSecret, "refs/heads/main", rev)
		r.Body = httpBody(`{"ref":"refs/heads/main","after":"` + strings.Repeat("f", 40) + `"}`)
		return r
	}

	// rev is a revision not fetched yet: a new commit for the cases that
	// trigger, else one that is never fetched.
	tests := []struct {
		name    string
		req     func(rev string) *http.Request
		code    int
		result  string // reconciler_webhook_requests_total label counted
		trigger bool
	}{
		{"github push", func(rev string) *http.Request { return githubPush(webhookSecret, "refs/heads/main", rev) }, http.StatusAccepted, "accepted", true},
		{"github push of the applied revision (a redelivery)", func(string) *http.Request { return githubPush(webhookSecret, "refs/heads/main", applied) }, http.StatusAccepted, "ignored", false},
		{"github push, wrong signature", func(rev string) *http.Request { return githubPush("not-the-secret", "refs/heads/main", rev) }, http.StatusUnauthorized, "unauthorized", false},
		{"github push, no signature", func(rev string) *http.Request { return githubPush("", "refs/heads/main", rev) }, http.StatusUnauthorized, "unauthorized", false},
		{"github push, body changed after signing", tampered, http.StatusUnauthorized, "unauthorized", false},
		{"github push, sha1 signature", func(rev string) *http.Request {
			return withHeader(githubPush("", "refs/heads/main", rev), "X-Hub-Signature-256", "sha1=0123456789abcdef0123456789abcdef01234567")
		}, http.StatusUnauthorized, "unauthorized", false},
		{"github push, signature not hex", func(rev string) *http.Request {
			return withHeader(githubPush("", "refs/heads/main", rev), "X-Hub-Signature-256", "sha256=zz")
		}, http.StatusUnauthorized, "unauthorized", false},
		{"github ping", func(string) *http.Request {
			return githubEvent("ping", webhookSecret, `{"zen":"Keep it logically awesome.","hook_id":1}`)
		}, http.StatusOK, "accepted", false},
		{"github ping, unsigned", func(string) *http.Request { return githubEvent("ping", "", `{"zen":"x"}`) }, http.StatusUnauthorized, "unauthorized", false},
		{"github issues event", func(string) *http.Request { return githubEvent("issues", webhookSecret, `{"action":"opened"}`) }, http.StatusAccepted, "ignored", false},
		{"github pull_request event", func(string) *http.Request {
			return githubEvent("pull_request", webhookSecret, `{"action":"opened"}`)
		}, http.StatusAccepted, "ignored", false},
		{"github push to another branch", func(rev string) *http.Request { return githubPush(webhookSecret, "refs/heads/feature", rev) }, http.StatusAccepted, "ignored", false},
		{"github push of a tag", func(rev string) *http.Request { return githubPush(webhookSecret, "refs/tags/v1.0.0", rev) }, http.StatusAccepted, "ignored", false},
		{"github push without ref", func(rev string) *http.Request { return githubEvent("push", webhookSecret, `{"after":"`+rev+`"}`) }, http.StatusAccepted, "ignored", false},
		{"github push, not JSON", func(string) *http.Request { return githubEvent("push", webhookSecret, `ref=main`) }, http.StatusBadRequest, "bad_request", false},
		{"gitlab push", func(rev string) *http.Request { return gitlabPush(webhookSecret, "refs/heads/main", rev) }, http.StatusAccepted, "accepted", true},
		{"gitlab push, wrong token", func(rev string) *http.Request { return gitlabPush("not-the-secret", "refs/heads/main", rev) }, http.StatusUnauthorized, "unauthorized", false},
		{"gitlab push, no token", func(rev string) *http.Request { return gitlabPush("", "refs/heads/main", rev) }, http.StatusUnauthorized, "unauthorized", false},
		{"gitlab push, token prefix", func(rev string) *http.Request {
			return gitlabPush(webhookSecret[:len(webhookSecret)-1], "refs/heads/main", rev)
		}, http.StatusUnauthorized, "unauthorized", false},
		{"gitlab tag push", func(rev string) *http.Request {
			return withHeader(gitlabPush(webhookSecret, "refs/tags/v1", rev), "X-Gitlab-Event", "Tag Push Hook")
		}, http.StatusAccepted, "ignored", false},
		{"gitlab push to another branch", func(rev string) *http.Request { return gitlabPush(webhookSecret, "refs/heads/feature", rev) }, http.StatusAccepted, "ignored", false},
		{"generic trigger", func(rev string) *http.Request { return genericTrigger(webhookSecret, `{"revision":"`+rev+`"}`) }, http.StatusAccepted, "accepted", true},
		{"generic trigger, short revision", func(rev string) *http.Request { return genericTrigger(webhookSecret, `{"revision":"`+rev[:8]+`"}`) }, http.StatusAccepted, "accepted", true},
		{"generic trigger, empty body", func(string) *http.Request { return genericTrigger(webhookSecret, ``) }, http.StatusAccepted, "accepted", true},
		{"generic trigger, no revision", func(string) *http.Request { return genericTrigger(webhookSecret, `{}`) }, http.StatusAccepted, "accepted", true},
		{"generic trigger, unsigned", func(rev string) *http.Request { return genericTrigger("", `{"revision":"`+rev+`"}`) }, http.StatusUnauthorized, "unauthorized", false},
		{"generic trigger, wrong secret", func(string) *http.Request { return genericTrigger("not-the-secret", `{}`) }, http.StatusUnauthorized, "unauthorized", false},
		{"generic trigger, not JSON", func(string) *http.Request { return genericTrigger(webhookSecret, `please`) }, http.StatusBadRequest, "bad_request", false},
		{"body over 1 MiB, signed", func(string) *http.Request { return githubEvent("push", webhookSecret, big) }, http.StatusRequestEntityTooLarge, "too_large", false},
		{"body over 1 MiB, unsigned", func(string) *http.Request { return githubEvent("push", "", big) }, http.StatusRequestEntityTooLarge, "too_large", false},
		{"body of exactly 1 MiB", func(rev string) *http.Request { return githubEvent("push", webhookSecret, exactly(rev)) }, http.StatusAccepted, "accepted", true},
		{"GET", func(string) *http.Request { return httptest.NewRequest(http.MethodGet, "/webhook", nil) }, http.StatusMethodNotAllowed, "", false},
	}
	triggered := 0
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := strings.Repeat(fmt.Sprintf("%x", i%16), 40) // never fetched
			if tt.trigger {
				rev = r.commit(fmt.Sprintf("change %d", i), topology(coreYAML))
				triggered++
			}
			before := h.d.Reconciles()
			series := `reconciler_webhook_requests_total{result="` + tt.result + `"}`
			counted := metric(h.metrics(), series)
			start := time.Now()
			rec := h.do(tt.req(rev))
			if took := time.Since(start); took > time.Second {
				t.Errorf("the answer took %s: webhooks must be answered at once", took)
			}
			if rec.Code != tt.code {
				t.Fatalf("POST /webhook = %d %q, want %d", rec.Code, rec.Body, tt.code)
			}
			if tt.code == http.StatusMethodNotAllowed {
				if got := rec.Header().Get("Allow"); got != http.MethodPost {
					t.Errorf("Allow = %q, want POST", got)
				}
				return
			}
			if got := metric(h.metrics(), series); got != counted+1 {
				t.Errorf("%s = %v, want %v", series, got, counted+1)
			}
			if tt.trigger {
				waitFor(t, "the triggered reconcile", 20*time.Second, func() bool { return h.d.Reconciles() > before })
				h.waitStatus("the new revision", 20*time.Second, appliedRev(rev))
				applied = rev
				return
			}
			time.Sleep(150 * time.Millisecond)
			if n := h.d.Reconciles(); n != before {
				t.Errorf("a %d answer started %d reconciles", tt.code, n-before)
			}
		})
	}
	if n := strings.Count(h.logs.String(), `"msg":"reconcile started","component":"daemon","trigger":"webhook:`); n != triggered {
		t.Errorf("%d reconciles were logged as triggered by a webhook, want %d", n, triggered)
	}
}

func httpBody(s string) *nopCloser { return &nopCloser{strings.NewReader(s)} }

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

func withHeader(r *http.Request, k, v string) *http.Request {
	r.Header.Set(k, v)
	return r
}

// Without a secret the endpoint does not exist: nothing unsigned is ever
// accepted.
func TestWebhookWithoutSecret(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	r.commit("core", topology(coreYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{Secret: "-"}), fastRetry)
	for _, req := range []*http.Request{
		githubPush(webhookSecret, "refs/heads/main", "abc"),
		githubPush("", "refs/heads/main", "abc"),
		gitlabPush("", "refs/heads/main", "abc"),
		genericTrigger("", "{}"),
	} {
		if rec := h.do(req); rec.Code != http.StatusNotFound {
			t.Errorf("POST /webhook without a secret configured = %d, want 404", rec.Code)
		}
	}
	if got := metric(h.metrics(), `reconciler_webhook_requests_total{result="disabled"}`); got != 4 {
		t.Errorf(`webhook requests counted "disabled" = %v, want 4`, got)
	}
	if n := h.d.Reconciles(); n != 0 {
		t.Errorf("%d reconciles started", n)
	}
}

// A secret file that went missing refuses webhooks rather than accepting
// them unsigned.
func TestWebhookSecretUnreadable(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	r.commit("core", topology(coreYAML))
	cfg := newConfig(t, l, r, cfgOpts{})
	h := newHarness(t, cfg, fastRetry)
	if err := os.Remove(cfg.Webhook.SecretFile); err != nil {
		t.Fatal(err)
	}
	if rec := h.do(githubPush("", "refs/heads/main", "abc")); rec.Code == http.StatusAccepted || rec.Code == http.StatusOK {
		t.Errorf("POST /webhook with the secret file gone = %d", rec.Code)
	}
	if strings.Contains(h.logs.String(), webhookSecret) {
		t.Errorf("the log contains the secret")
	}
}

// TestWebhookFlood sends 1,000 webhook requests from concurrent clients,
// signed and unsigned, while a slow reconcile runs: every request is
// answered quickly, the burst collapses into at most two reconciles, memory
// stays flat and no goroutine is left behind.
func TestWebhookFlood(t *testing.T) {
	goroutinesBefore := settledGoroutines(0)

	l := newLab(t, simulator.Options{JobLatency: 400 * time.Millisecond})
	r := newGitRepo(t)
	first := r.commit("branch", topology(branchYAML))
	// Triggers that name no revision are spaced by the default 10 s.
	h := newHarness(t, newConfig(t, l, r, cfgOpts{}), daemon.Options{RetryBase: fastRetry.RetryBase, RetryMax: fastRetry.RetryMax}).start()
	srv := httptest.NewServer(h.h)
	// The start run is slow: its tunnel jobs take 400 ms each, two per
	// device in a row.
	h.waitStatus("the start run to wait for its jobs", 30*time.Second, func(s daemon.Status) bool { return s.JobsInFlight > 0 })
	second := r.commit("core and inet", topology(inetYAML))
	reconcilesBefore := h.d.Reconciles()

	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapBefore := ms.HeapAlloc

	const total, workers = 1000, 25
	type kind struct {
		name string
		req  func() *http.Request
		code int
	}
	push := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, second)
	pushTo := func(secret string) func() *http.Request {
		return func() *http.Request {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(push))
			req.Header.Set("X-GitHub-Event", "push")
			if secret != "" {
				req.Header.Set("X-Hub-Signature-256", daemon.Sign(secret, []byte(push)))
			}
			return req
		}
	}
	generic := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", strings.NewReader(`{}`))
		req.Header.Set(daemon.HeaderSignature, daemon.Sign(webhookSecret, []byte(`{}`)))
		return req
	}
	junk := bytes.Repeat([]byte("z"), 64<<10)
	unsignedJunk := func() *http.Request {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhook", bytes.NewReader(junk))
		return req
	}
	kinds := []kind{
		{"signed push", pushTo(webhookSecret), http.StatusAccepted},
		{"unsigned push", pushTo(""), http.StatusUnauthorized},
		{"push signed with another secret", pushTo("guess"), http.StatusUnauthorized},
		{"signed generic trigger", generic, http.StatusAccepted},
		{"unsigned 64 KiB body", unsignedJunk, http.StatusUnauthorized},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}, Timeout: 30 * time.Second}
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, total)
	codes := map[string]map[int]int{}
	var wg sync.WaitGroup
	jobs := make(chan int)
	floodStart := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				k := kinds[i%len(kinds)]
				start := time.Now()
				code := 0
				resp, err := client.Do(k.req())
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				mu.Lock()
				latencies = append(latencies, time.Since(start))
				if codes[k.name] == nil {
					codes[k.name] = map[int]int{}
				}
				codes[k.name][code]++
				mu.Unlock()
			}
		}()
	}
	for i := range total {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	floodTook := time.Since(floodStart)

	slices.Sort(latencies)
	p99, worst := latencies[len(latencies)*99/100], latencies[len(latencies)-1]
	t.Logf("%d requests in %s: p50 %s, p99 %s, max %s", total, floodTook, latencies[len(latencies)/2], p99, worst)
	if worst > 3*time.Second {
		t.Errorf("the slowest webhook answer took %s; want every one within 3 s", worst)
	}
	for _, k := range kinds {
		want := map[int]int{k.code: total / len(kinds)}
		if got := codes[k.name]; !maps.Equal(got, want) {
			t.Errorf("%s: answers %v, want %v", k.name, got, want)
		}
	}

	// The daemon stays responsive, and the burst ends in the new revision.
	h.waitStatus("the pushed revision to be applied", 30*time.Second, appliedRev(second))
	time.Sleep(500 * time.Millisecond) // room for a run too many to start
	h.waitStatus("the runs to end", 30*time.Second, func(s daemon.Status) bool { return !s.Reconciling })
	if n := h.d.Reconciles() - reconcilesBefore; n > 2 {
		t.Errorf("the flood started %d reconciles, want at most 2", n)
	}
	m := h.metrics()
	// The signed pushes are accepted until a run fetched their revision,
	// then ignored; the generic triggers are all accepted.
	accepted := metric(m, `reconciler_webhook_requests_total{result="accepted"}`)
	ignored := metric(m, `reconciler_webhook_requests_total{result="ignored"}`)
	if accepted+ignored != float64(2*total/len(kinds)) || accepted < float64(total/len(kinds)+1) {
		t.Errorf("webhooks counted accepted %v, ignored %v; want %d in all, %d of them accepted at least", accepted, ignored, 2*total/len(kinds), total/len(kinds)+1)
	}
	if got := metric(m, `reconciler_webhook_requests_total{result="unauthorized"}`); got != float64(3*total/len(kinds)) {
		t.Errorf("unauthorized webhooks counted = %v, want %d", got, 3*total/len(kinds))
	}
	if n := strings.Count(h.logs.String(), `"msg":"a new revision arrived`); n != 1 {
		t.Errorf("the run in progress was superseded %d times, want once (by the first push of %s)", n, short(second))
	}
	if !strings.Contains(h.logs.String(), `"running":"`+short(first)+`","new":"`+short(second)+`"`) {
		t.Errorf("the log does not show the run of %s superseded by %s", short(first), short(second))
	}

	runtime.GC()
	runtime.ReadMemStats(&ms)
	if grew := int64(ms.HeapAlloc) - int64(heapBefore); grew > 10<<20 {
		t.Errorf("the heap grew by %d MiB over the flood", grew>>20)
	} else {
		t.Logf("heap: %d KiB before, %d KiB after", heapBefore>>10, ms.HeapAlloc>>10)
	}

	// Everything stopped: no goroutine is left.
	if err, _ := h.stop(); err != nil {
		t.Errorf("Run = %v", err)
	}
	client.CloseIdleConnections()
	srv.Close()
	l.srv.Close()
	l.sim.Close()
	if after := settledGoroutines(goroutinesBefore); after > goroutinesBefore {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after the flood:\n%s", goroutinesBefore, after, buf[:runtime.Stack(buf, true)])
	}
}

// settledGoroutines waits (up to 10 s) for the goroutine count to fall to
// target or below and to stop changing, and returns it.
func settledGoroutines(target int) int {
	deadline := time.Now().Add(10 * time.Second)
	last, stable := runtime.NumGoroutine(), 0
	for time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		n := runtime.NumGoroutine()
		if n == last {
			stable++
		} else {
			last, stable = n, 0
		}
		if stable >= 4 && (target == 0 || n <= target) {
			return n
		}
	}
	return runtime.NumGoroutine()
}

// A burst of triggers while a run is in progress collapses into one
// follow-up run.
func TestTriggersCollapse(t *testing.T) {
	l := newLab(t, simulator.Options{JobLatency: 300 * time.Millisecond})
	r := newGitRepo(t)
	rev := r.commit("branch", topology(branchYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{}), fastRetry).start()
	h.waitStatus("the start run to wait for jobs", 30*time.Second, func(s daemon.Status) bool { return s.JobsInFlight > 0 })
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				h.d.Trigger(fmt.Sprintf("burst %d.%d", g, i))
			}
		}()
	}
	wg.Wait()
	h.waitStatus("the follow-up run", 30*time.Second, func(s daemon.Status) bool {
		return appliedRev(rev)(s) && h.d.Reconciles() == 2
	})
	time.Sleep(500 * time.Millisecond)
	if n := h.d.Reconciles(); n != 2 {
		t.Errorf("%d runs after a burst of 200 triggers during the first, want 2", n)
	}
}

// A trigger that names no revision waits for the spacing after the last
// run started; a push of a new revision does not wait, and its run covers
// the trigger that was held back.
func TestTriggerSpacing(t *testing.T) {
	l := newLab(t, simulator.Options{})
	r := newGitRepo(t)
	head := r.commit("core", topology(coreYAML))
	h := newHarness(t, newConfig(t, l, r, cfgOpts{}), daemon.Options{TriggerSpacing: 2 * time.Second}).start()
	h.waitStatus("the start run", 30*time.Second, appliedRev(head))
	if rec := h.do(genericTrigger(webhookSecret, `{}`)); rec.Code != http.StatusAccepted {
		t.Fatalf("generic trigger = %d", rec.Code)
	}
	time.Sleep(300 * time.Millisecond)
	if n := h.d.Reconciles(); n != 1 {
		t.Fatalf("a trigger without a revision started a run %d runs in, within the spacing", n)
	}
	if s := h.status(); time.Until(s.NextRun) > 2*time.Second || time.Until(s.NextRun) < 0 {
		t.Errorf("nextRun = %s, want within the 2 s spacing", s.NextRun)
	}
	rev := r.commit("inet", topology(inetYAML))
	pushed := time.Now()
	if rec := h.do(githubPush(webhookSecret, "refs/heads/main", rev)); rec.Code != http.StatusAccepted {
		t.Fatalf("push = %d", rec.Code)
	}
	waitFor(t, "the push's run", 10*time.Second, func() bool { return h.d.Reconciles() == 2 })
	if took := time.Since(pushed); took > time.Second {
		t.Errorf("the push of a new revision waited %s for its run", took)
	}
	h.waitStatus("the pushed revision", 30*time.Second, appliedRev(rev))
	time.Sleep(2500 * time.Millisecond)
	if n := h.d.Reconciles(); n != 2 {
		t.Errorf("%d runs: the held trigger ran although the push's run covered it", n)
	}
}
