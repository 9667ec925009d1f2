package executor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/flexiwan-gitops/reconciler/fleximanage"
	"github.com/flexiwan-gitops/reconciler/planner"
)

// JournalFormat is the version of the journal file.
const JournalFormat = 1

// JournalFile is the journal's name in the state directory.
const JournalFile = "journal.json"

// Journal records a run's writes so that a run killed at any point can be
// resumed: before each write the step, after it the job ids, and the jobs
// that ended. It is rewritten whole on each change (write to a temporary
// file, fsync, rename), so a crash leaves the old or the new version, never
// a mix.
type Journal struct {
	mu  sync.Mutex
	dir string
	rec *JournalRecord
	now func() time.Time
}

// JournalRecord is the journal's content.
type JournalRecord struct {
	Format      int            `json:"format"`
	Org         string         `json:"org"`
	Revision    string         `json:"revision"`
	Fingerprint string         `json:"liveFingerprint"`
	StartedAt   time.Time      `json:"startedAt"`
	Entries     []JournalEntry `json:"entries"`
}

// JournalEntry is one write.
type JournalEntry struct {
	Step   int                 `json:"step"`
	Phase  planner.Phase       `json:"phase"`
	Action planner.Action      `json:"action"`
	Target string              `json:"target"`
	State  string              `json:"state"` // sending | sent | failed
	JobIDs []fleximanage.JobID `json:"jobIds,omitempty"`
	Ended  []fleximanage.JobID `json:"ended,omitempty"`
	At     time.Time           `json:"at"`
}

// Outstanding returns the job ids recorded but not known to have ended,
// and whether some write's outcome is unknown (recorded as sending only).
func (r *JournalRecord) Outstanding() (ids []fleximanage.JobID, unknown bool) {
	for _, e := range r.Entries {
		if e.State == "sending" {
			unknown = true
		}
		ended := map[fleximanage.JobID]bool{}
		for _, id := range e.Ended {
			ended[id] = true
		}
		for _, id := range e.JobIDs {
			if !ended[id] {
				ids = append(ids, id)
			}
		}
	}
	return ids, unknown
}

// OpenJournal returns the journal of a state directory, creating the
// directory if needed.
func OpenJournal(dir string) (*Journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	return &Journal{dir: dir, now: time.Now}, nil
}

func (j *Journal) path() string { return filepath.Join(j.dir, JournalFile) }

// ErrCorruptJournal says the journal could not be read; it was set aside.
var ErrCorruptJournal = errors.New("the journal is corrupt")

// Unfinished reads a journal left by a run that did not finish. It returns
// nil when there is none. A journal that cannot be read is renamed aside
// (journal.json.corrupt-<time>) and reported with ErrCorruptJournal; it is
// never trusted.
func (j *Journal) Unfinished() (*JournalRecord, error) {
	data, err := os.ReadFile(j.path())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	var rec JournalRecord
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	derr := dec.Decode(&rec)
	if derr == nil {
		// One value and nothing after it: a journal is always written
		// whole, so anything more means the file is damaged.
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			derr = errors.New("unexpected data after the journal record")
		}
	}
	if derr == nil && rec.Format != JournalFormat {
		derr = fmt.Errorf("format %d, want %d", rec.Format, JournalFormat)
	}
	if derr == nil && rec.Org == "" {
		derr = errors.New("no organization")
	}
	if derr != nil {
		stamp := j.now().UTC().Format("20060102T150405Z")
		aside := fmt.Sprintf("%s.corrupt-%s", j.path(), stamp)
		// Never replace a journal set aside earlier (in the same second).
		for n := 2; ; n++ {
			if _, err := os.Lstat(aside); errors.Is(err, os.ErrNotExist) {
				break
			}
			aside = fmt.Sprintf("%s.corrupt-%s-%d", j.path(), stamp, n)
		}
		if rerr := os.Rename(j.path(), aside); rerr != nil {
			return nil, fmt.Errorf("%w (%v) and could not be set aside: %v", ErrCorruptJournal, derr, rerr)
		}
		return nil, fmt.Errorf("%w (%v); set aside as %s", ErrCorruptJournal, derr, filepath.Base(aside))
	}
	return &rec, nil
}

// Discard removes the journal (after a resume has dealt with it).
func (j *Journal) Discard() error {
	err := os.Remove(j.path())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// Begin starts a journal for p, replacing any earlier one.
func (j *Journal) Begin(p *planner.Plan) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.rec = &JournalRecord{Format: JournalFormat, Org: p.Org.ID, Revision: p.Revision, Fingerprint: p.LiveFingerprint, StartedAt: j.now().UTC()}
	return j.writeLocked()
}

// Sending records a write about to be sent.
func (j *Journal) Sending(s *planner.Step) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.rec == nil {
		return errors.New("journal not begun")
	}
	j.rec.Entries = append(j.rec.Entries, JournalEntry{Step: s.ID, Phase: s.Phase, Action: s.Action, Target: s.Target, State: "sending", At: j.now().UTC()})
	return j.writeLocked()
}

// Sent records a write's answer: its job ids, or that it failed.
func (j *Journal) Sent(s *planner.Step, ids []fleximanage.JobID, sendErr error) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for i := len(j.rec.Entries) - 1; i >= 0; i-- {
		e := &j.rec.Entries[i]
		if e.Step != s.ID || e.State != "sending" {
			continue
		}
		e.State = "sent"
		if sendErr != nil {
			e.State = "failed"
		}
		e.JobIDs = append([]fleximanage.JobID(nil), ids...)
		e.At = j.now().UTC()
		return j.writeLocked()
	}
	return fmt.Errorf("journal has no pending entry for step %d", s.ID)
}

// JobsEnded records jobs known to have ended.
func (j *Journal) JobsEnded(ids []fleximanage.JobID) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	set := map[fleximanage.JobID]bool{}
	for _, id := range ids {
		set[id] = true
	}
	for i := range j.rec.Entries {
		e := &j.rec.Entries[i]
		for _, id := range e.JobIDs {
			if set[id] {
				e.Ended = append(e.Ended, id)
			}
		}
	}
	return j.writeLocked()
}

// HasOutstanding reports whether recorded jobs may still be running.
func (j *Journal) HasOutstanding() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.rec == nil {
		return false
	}
	ids, unknown := j.rec.Outstanding()
	return len(ids) > 0 || unknown
}

// Finish ends the run's journal: removed when clean, kept otherwise so
// that the next start resumes from it.
func (j *Journal) Finish(clean bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !clean {
		return nil
	}
	j.rec = nil
	err := os.Remove(j.path())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (j *Journal) writeLocked() error {
	data, err := json.MarshalIndent(j.rec, "", "  ")
	if err != nil {
		return err
	}
	tmp := j.path() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("write journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write journal: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := os.Rename(tmp, j.path()); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if d, err := os.Open(j.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
