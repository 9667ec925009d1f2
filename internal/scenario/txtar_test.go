package scenario

import (
	"bytes"
	"strings"
)

// archive is a txtar archive: "-- name --" lines start files.
type archive struct {
	comment string
	files   map[string][]byte
	order   []string
}

func parseTxtar(data []byte) *archive {
	a := &archive{files: map[string][]byte{}}
	var cur string
	var buf bytes.Buffer
	flush := func() {
		if cur == "" {
			a.comment = buf.String()
		} else {
			a.files[cur] = append([]byte(nil), buf.Bytes()...)
			a.order = append(a.order, cur)
		}
		buf.Reset()
	}
	for _, line := range strings.SplitAfter(string(data), "\n") {
		t := strings.TrimRight(line, "\r\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			flush()
			cur = strings.TrimSpace(t[3 : len(t)-3])
			continue
		}
		buf.WriteString(line)
	}
	flush()
	return a
}
