package executor_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/flexiwan-gitops/reconciler/executor"
	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/fleximanage/simulator"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// forbiddenClient is a client whose server fails the test on any request:
// the paths that use it must not touch flexiManage.
func forbiddenClient(t *testing.T) *fleximanage.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, `{"error":"forbidden in this test"}`, http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	c, err := fleximanage.New(fleximanage.Options{BaseURL: srv.URL, Key: "k", Org: "65b0000000000000000000cc", NoBudget: true, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func validJournal(t *testing.T) []byte {
	t.Helper()
	rec := executor.JournalRecord{Format: executor.JournalFormat, Org: "65b0000000000000000000cc", Revision: "abc",
		StartedAt: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		Entries: []executor.JournalEntry{{Step: 1, Phase: planner.PhaseCreateTunnels, Action: planner.CreateTunnels, Target: "group star",
			State: "sent", JobIDs: []fleximanage.JobID{11, 12, 13}, At: time.Date(2026, 12, 1, 12, 0, 1, 0, time.UTC)}}}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func asideFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, executor.JournalFile+".corrupt-*"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(n)] = string(b)
	}
	return out
}

func asideContents(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// TestCorruptJournal: a journal that cannot be trusted is set aside as
// journal.json.corrupt-<time> and reported as ErrCorruptJournal, by
// Unfinished and by Resume, without a request to flexiManage.
func TestCorruptJournal(t *testing.T) {
	t.Parallel()
	valid := validJournal(t)
	tests := map[string][]byte{
		"not JSON":              []byte("{this is not json"),
		"truncated":             valid[:len(valid)/2],
		"truncated by one byte": valid[:len(valid)-1],
		"empty file":            {},
		"zeroes":                make([]byte, 64),
		"trailing garbage":      append(append([]byte{}, valid...), []byte("\n{\"format\":1}garbage")...),
		"wrong format version":  []byte(`{"format":99,"org":"65b0000000000000000000cc","entries":[]}`),
		"unknown field":         []byte(`{"format":1,"org":"65b0000000000000000000cc","surprise":true,"entries":[]}`),
		"no organization":       []byte(`{"format":1,"entries":[]}`),
		"array":                 []byte(`[]`),
		"bad job id":            []byte(`{"format":1,"org":"o","entries":[{"step":1,"phase":"labels","action":"create-label","state":"sent","jobIds":["x"]}]}`),
		"unknown phase":         []byte(`{"format":1,"org":"o","entries":[{"step":1,"phase":"warp","action":"create-label","state":"sent"}]}`),
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, executor.JournalFile)
			j, err := executor.OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			// Unfinished.
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			rec, err := j.Unfinished()
			if !errors.Is(err, executor.ErrCorruptJournal) || rec != nil {
				t.Fatalf("Unfinished() = %+v, %v; want nil, ErrCorruptJournal", rec, err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal.json after Unfinished: %v; want it moved aside", err)
			}
			if diff := cmp.Diff([]string{string(content)}, asideContents(asideFiles(t, dir))); diff != "" {
				t.Errorf("files set aside (-want +got):\n%s", diff)
			}
			// Resume, with the same content again (in the same second: the
			// first copy set aside must survive).
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			ex, err := executor.New(executor.Options{Client: forbiddenClient(t)})
			if err != nil {
				t.Fatal(err)
			}
			res, err := ex.Resume(t.Context(), j)
			if !errors.Is(err, executor.ErrCorruptJournal) || res != nil {
				t.Fatalf("Resume() = %+v, %v; want nil, ErrCorruptJournal", res, err)
			}
			if got := asideFiles(t, dir); len(got) != 2 {
				t.Errorf("files set aside after two corrupt journals = %d (%v), want 2", len(got), sortedKeys(got))
			}
			// Nothing is left to resume.
			if rec, err := j.Unfinished(); rec != nil || err != nil {
				t.Errorf("Unfinished() after setting aside = %+v, %v; want nil, nil", rec, err)
			}
		})
	}
}

func sortedKeys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// queueStarts queues "start" jobs directly (not through the executor):
// one per device, and a second one on the hub.
func queueStarts(t *testing.T, e *env) []fleximanage.JobID {
	t.Helper()
	ctx := t.Context()
	st := e.read(ctx)
	all := map[string]bool{}
	hub := ""
	for _, d := range st.Devices {
		all[d.ID] = true
		if d.Name == "hub" {
			hub = d.ID
		}
	}
	var ids []fleximanage.JobID
	for _, devs := range []map[string]bool{all, {hub: true}} {
		r, err := e.client.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStart, Devices: devs})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.IDs...)
	}
	if len(ids) != 4 {
		t.Fatalf("queued %d jobs, want 4", len(ids))
	}
	return ids
}

func writeJournal(t *testing.T, dir string, rec executor.JournalRecord) {
	t.Helper()
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, executor.JournalFile), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestResume: a journal left by a run that died is resumed: Resume waits
// for the jobs it names as not ended (or, when a write's answer was lost,
// for the organization's unfinished jobs), then removes the journal.
func TestResume(t *testing.T) {
	t.Parallel()
	type want struct {
		awaited  []int // indexes into the queued ids
		unknown  bool
		requests bool
	}
	tests := map[string]struct {
		entries func(ids []fleximanage.JobID) []executor.JournalEntry
		// startedAt shifts the journal's start from now.
		startedAt time.Duration
		want      want
	}{
		"sent, with outstanding ids": {
			entries: func(ids []fleximanage.JobID) []executor.JournalEntry {
				return []executor.JournalEntry{
					{Step: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "devices", State: "sent", JobIDs: ids[:3]},
					{Step: 2, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "device hub", State: "sent", JobIDs: ids[3:]},
				}
			},
			want: want{awaited: []int{0, 1, 2, 3}, requests: true},
		},
		"some ids ended already": {
			entries: func(ids []fleximanage.JobID) []executor.JournalEntry {
				return []executor.JournalEntry{
					{Step: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "devices", State: "sent", JobIDs: ids[:3], Ended: ids[:2]},
					{Step: 2, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "device hub", State: "sent", JobIDs: ids[3:]},
				}
			},
			want: want{awaited: []int{2, 3}, requests: true},
		},
		"sending, answer lost": {
			entries: func(ids []fleximanage.JobID) []executor.JournalEntry {
				return []executor.JournalEntry{
					{Step: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "devices", State: "sent", JobIDs: ids[:3], Ended: ids[:3]},
					{Step: 2, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "device hub", State: "sending"},
				}
			},
			want: want{awaited: []int{0, 1, 2, 3}, unknown: true, requests: true},
		},
		"sending, jobs older than the run": {
			entries: func(ids []fleximanage.JobID) []executor.JournalEntry {
				return []executor.JournalEntry{{Step: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "devices", State: "sending"}}
			},
			startedAt: 5 * time.Minute,
			want:      want{unknown: true, requests: true},
		},
		"every job ended": {
			entries: func(ids []fleximanage.JobID) []executor.JournalEntry {
				return []executor.JournalEntry{{Step: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "devices", State: "sent", JobIDs: ids, Ended: ids}}
			},
			want: want{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fleet: fleetLabeled, topology: topoLabeled, sim: simulator.Options{JobLatency: 300 * time.Millisecond}})
			ctx := t.Context()
			ids := queueStarts(t, e)
			dir := t.TempDir()
			rec := executor.JournalRecord{Format: executor.JournalFormat, Org: e.org.ID, Revision: "abc",
				StartedAt: time.Now().Add(tc.startedAt).UTC().Truncate(time.Millisecond), Entries: tc.entries(ids)}
			writeJournal(t, dir, rec)
			j, err := executor.OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			ex, err := executor.New(executor.Options{Client: e.client, PollMin: 5 * time.Millisecond, PollMax: 20 * time.Millisecond, PhaseDeadline: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			e.rec.reset()
			got, err := ex.Resume(ctx, j)
			if err != nil {
				t.Fatalf("Resume() = %v", err)
			}
			if diff := cmp.Diff(&rec, got.Record); diff != "" {
				t.Errorf("Resumed.Record (-want +got):\n%s", diff)
			}
			if got.Unknown != tc.want.unknown {
				t.Errorf("Resumed.Unknown = %v, want %v", got.Unknown, tc.want.unknown)
			}
			wantAwaited := map[fleximanage.JobID]fleximanage.JobState{}
			for _, i := range tc.want.awaited {
				wantAwaited[ids[i]] = fleximanage.JobComplete
			}
			gotAwaited := map[fleximanage.JobID]fleximanage.JobState{}
			for id, o := range got.Awaited {
				gotAwaited[id] = o.State
			}
			if diff := cmp.Diff(wantAwaited, gotAwaited); diff != "" {
				t.Errorf("Resumed.Awaited (-want +got):\n%s", diff)
			}
			if n := len(e.rec.requests()); (n > 0) != tc.want.requests {
				t.Errorf("Resume sent %d requests; want some: %v", n, tc.want.requests)
			}
			if _, err := os.Stat(filepath.Join(dir, executor.JournalFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("journal after Resume: %v; want it removed", err)
			}
			if len(tc.want.awaited) == 4 {
				if n := unfinishedJobs(e.sim); n != 0 {
					t.Errorf("%d jobs unfinished after Resume, want 0", n)
				}
			}
		})
	}
}

// TestJournalAfterRun: what a run leaves in its journal. A run that ends,
// well or not, with every job ended leaves none; a run whose context ends
// while its jobs still run keeps them as outstanding, and Resume then
// waits for them.
func TestJournalAfterRun(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		faults simulator.Faults
		cancel bool
		// wantKept: the journal stays with outstanding jobs.
		wantKept bool
		wantErr  bool
	}{
		"success":           {},
		"a job failed":      {faults: simulator.Faults{FailJobs: []simulator.JobFault{{Device: "spoke-1", Method: "tunnels", Times: 1}}}, wantErr: true},
		"cancelled waiting": {cancel: true, wantKept: true, wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, setup{fleet: fleetLabeled, topology: topoLabeled, sim: simulator.Options{JobLatency: 100 * time.Millisecond}})
			e.sim.SetFaults(tc.faults)
			p, st := e.plan(t.Context())
			dir := t.TempDir()
			j, err := executor.OpenJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			o := e.execOptions(st)
			o.Journal = j
			var sent []fleximanage.JobID
			o.Observer = observerFuncs{
				stepSent: func(_ *planner.Step, s executor.Sent, _ error) { sent = s.JobIDs },
				progress: func(planner.Phase, executor.JobCounts) {
					if tc.cancel {
						cancel()
					}
				},
			}
			_, err = e.apply(ctx, p, o)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Apply() = %v, want error: %v", err, tc.wantErr)
			}
			rec, err := j.Unfinished()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.wantKept {
				if rec != nil {
					t.Errorf("journal after the run = %+v, want none", rec)
				}
				return
			}
			if rec == nil {
				t.Fatal("no journal after a run cancelled while its jobs ran; a restart could not wait for them")
			}
			out, unknown := rec.Outstanding()
			if unknown || len(out) == 0 {
				t.Errorf("Outstanding() = %v, %v; want the unfinished jobs of %v", out, unknown, sent)
			}
			for _, id := range out {
				if !contains(jobStrings(sent), id.String()) {
					t.Errorf("outstanding job %d was not sent by the run (%v)", id, sent)
				}
			}
			ex, err := executor.New(e.execOptions(st))
			if err != nil {
				t.Fatal(err)
			}
			res, err := ex.Resume(t.Context(), j)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Awaited) != len(out) {
				t.Errorf("Resume awaited %d jobs, want %d", len(res.Awaited), len(out))
			}
			e.converge(t.Context())
		})
	}
}

func jobStrings(ids []fleximanage.JobID) []string {
	var out []string
	for _, id := range ids {
		out = append(out, id.String())
	}
	return out
}

// TestResumeLostAnswerJobStarting: when a write's answer was lost, Resume
// lists the organization's queued and running jobs in two requests. A job
// that starts between them must still be awaited.
func TestResumeLostAnswerJobStarting(t *testing.T) {
	t.Parallel()
	e := newEnv(t, setup{fleet: fleetLabeled, topology: topoLabeled, sim: simulator.Options{JobLatency: 300 * time.Millisecond}})
	ctx := t.Context()
	st := e.read(ctx)
	var spoke string
	for _, d := range st.Devices {
		if d.Name == "spoke-1" {
			spoke = d.ID
		}
	}
	e.sim.SetConnected("spoke-1", false)
	r, err := e.client.Apply(ctx, fleximanage.ApplyRequest{Method: fleximanage.MethodStart, Devices: map[string]bool{spoke: true}})
	if err != nil || len(r.IDs) != 1 {
		t.Fatalf("queue a job: %+v, %v", r, err)
	}
	dir := t.TempDir()
	writeJournal(t, dir, executor.JournalRecord{Format: executor.JournalFormat, Org: e.org.ID, StartedAt: time.Now().UTC(),
		Entries: []executor.JournalEntry{{Step: 1, Phase: planner.PhaseStart, Action: planner.StartDevices, Target: "device spoke-1", State: "sending"}}})
	j, err := executor.OpenJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The device comes back (and takes its job) between the two lists.
	var lists atomic.Int32
	e.rec.setHook(func(r reqRecord) int {
		if r.Path == "/api/jobs" && strings.Contains(r.Query, "status=") && !strings.Contains(r.Query, "ids=") {
			if lists.Add(1) == 2 {
				e.sim.SetConnected("spoke-1", true)
			}
		}
		return 0
	})
	ex, err := executor.New(executor.Options{Client: e.client, PollMin: 5 * time.Millisecond, PollMax: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ex.Resume(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := res.Awaited[r.IDs[0]]; !ok || o.State != fleximanage.JobComplete {
		t.Errorf("Resume awaited %+v; want job %d, which started between the two lists, complete", res.Awaited, r.IDs[0])
	}
}
