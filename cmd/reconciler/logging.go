package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

type logFlags struct {
	format string
	level  string
}

func (l *logFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.format, "log-format", "text", "log format: text or json")
	fs.StringVar(&l.level, "log-level", "", "log level: debug, info, warn or error (default: info for apply without a terminal, else warn)")
}

func (l *logFlags) logger(w io.Writer) (*slog.Logger, error) {
	return l.loggerDefault(w, "warn")
}

// loggerDefault is logger with the level used when --log-level is not given.
func (l *logFlags) loggerDefault(w io.Writer, def string) (*slog.Logger, error) {
	level := l.level
	if level == "" {
		level = def
	}
	var lvl slog.Level
	switch strings.ToLower(level) {
	case "debug":
		lvl = slog.LevelDebug
	case "info":
		lvl = slog.LevelInfo
	case "warn", "warning":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("unknown log level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q (want text or json)", l.format)
}
