package fleximanage

import (
	"encoding/json"
	"log/slog"
)

// AccessKey is a flexiManage access key (or user JWT). It prints, formats,
// logs and marshals as "[redacted]", so it can travel inside option structs
// without leaking; only the client's request code reads it with Reveal.
type AccessKey string

const redacted = "[redacted]"

func (k AccessKey) String() string               { return redacted }
func (k AccessKey) GoString() string             { return redacted }
func (k AccessKey) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (k AccessKey) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }
func (k AccessKey) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Reveal returns the key itself. It is meant for the Authorization header
// and nothing else.
func (k AccessKey) Reveal() string { return string(k) }
