// Profile of what pipelock's inspect lane costs, per body and per scanner. Copied by
// test/bench/pipelock-profile/run into pipelock's own source tree (package proxy, beside
// bodyscan.go) and run there with `go test`: it calls the functions pipelock's intercept path
// calls (scanRequestBody for a request body, Scanner.ScanResponse for an answer) on the
// bodies the run wrote, with a scanner made from a bottle's rendered pipelock.yaml, and writes
// one CPU profile per body. Not part of pipelock, not part of bot-bottle's program.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/luckyPipewrench/pipelock/internal/config"
	"github.com/luckyPipewrench/pipelock/internal/extract"
	"github.com/luckyPipewrench/pipelock/internal/scanner"
)

// A body to profile: what pipelock does with it, and its file in BOT_BOTTLE_PROFILE_BODIES.
type profiled struct {
	name        string
	file        string
	contentType string
	// request: scanRequestBody; answer: ScanResponse; strings: ScanTextForDLP on each JSON
	// string of the file alone (pipelock's first pass over a JSON body); joined: on all of them
	// sorted and joined (its second); new-strings: on each string of the file not also in
	// the file named by `since` (what reading only a turn's new text would cost).
	how   string
	since string
}

var bodies = []profiled{
	{"Messages API request, 100 KB", "m100k.json", "application/json", "request", ""},
	{"Messages API request, 1 MiB", "m1m.json", "application/json", "request", ""},
	{"  its strings, one by one", "m1m.json", "", "strings", ""},
	{"  its strings, sorted and joined", "m1m.json", "", "joined", ""},
	{"  the next turn's new strings only", "next-m1m.json", "", "new-strings", "m1m.json"},
	{"JSON answer, 1 MiB", "answer1m.json", "application/json", "answer", ""},
	{"git push body (a pack), 6 MiB", "push6m.pack", "application/x-git-receive-pack-request", "request", ""},
}

const runs = 3

func TestProfileInspectLane(t *testing.T) {
	dir := os.Getenv("BOT_BOTTLE_PROFILE_BODIES")
	out := os.Getenv("BOT_BOTTLE_PROFILE_OUT")
	if dir == "" || out == "" {
		t.Fatal("set BOT_BOTTLE_PROFILE_BODIES (the bodies and pipelock.yaml) and BOT_BOTTLE_PROFILE_OUT (where profiles go)")
	}
	cfg, err := config.Load(filepath.Join(dir, "pipelock.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sc := scanner.New(cfg)
	defer sc.Close()
	ctx := context.Background()

	fmt.Printf("| body | bytes | pipelock's time (median of %d) | verdict |\n| --- | ---: | ---: | --- |\n", runs)
	for i, b := range bodies {
		body := read(t, dir, b.file)
		work := func() string { return verdict(ctx, t, sc, cfg, b, body, dir) }
		// A warm-up run (regexes compiled, caches filled), then the timed and profiled ones.
		result := work()
		f, err := os.Create(filepath.Join(out, fmt.Sprintf("%d.pprof", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		times := make([]time.Duration, runs)
		for r := range times {
			start := time.Now()
			result = work()
			times[r] = time.Since(start)
		}
		pprof.StopCPUProfile()
		_ = f.Close()
		sort.Slice(times, func(a, c int) bool { return times[a] < times[c] })
		fmt.Printf("| %s | %d | %.3f s | %s |\n", b.name, len(body), times[runs/2].Seconds(), result)
		fmt.Printf("# profile %d.pprof: %s\n", i, b.name)
	}
}

func verdict(ctx context.Context, t *testing.T, sc *scanner.Scanner, cfg *config.Config, b profiled, body []byte, dir string) string {
	switch b.how {
	case "request":
		_, res := scanRequestBody(ctx, BodyScanRequest{
			Body:        bytes.NewReader(body),
			ContentType: b.contentType,
			MaxBytes:    cfg.RequestBodyScanning.MaxBodyBytes,
			Scanner:     sc,
		})
		if res.Clean {
			return "clean"
		}
		return "refused: " + res.Reason + names(res.DLPMatches)
	case "answer":
		res := sc.ScanResponse(ctx, string(body))
		if res.Clean {
			return "clean"
		}
		return fmt.Sprintf("%d findings", len(res.Matches))
	case "strings", "joined", "new-strings":
		texts := extract.AllStringsFromJSON(json.RawMessage(body))
		if b.how == "new-strings" {
			texts = without(texts, extract.AllStringsFromJSON(json.RawMessage(read(t, dir, b.since))))
		}
		if b.how == "joined" {
			sort.Strings(texts)
			texts = []string{strings.Join(texts, "\n")}
		}
		total := 0
		for _, text := range texts {
			total += len(text)
			if res := sc.ScanTextForDLP(ctx, text); !res.Clean {
				return "refused" + names(res.Matches)
			}
		}
		return fmt.Sprintf("clean (%d texts, %d bytes)", len(texts), total)
	}
	t.Fatalf("unknown way %q", b.how)
	return ""
}

func read(t *testing.T, dir, file string) []byte {
	body, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func without(texts, seen []string) []string {
	known := make(map[string]bool, len(seen))
	for _, s := range seen {
		known[s] = true
	}
	var fresh []string
	for _, s := range texts {
		if !known[s] {
			fresh = append(fresh, s)
		}
	}
	return fresh
}

func names(matches []scanner.TextDLPMatch) string {
	var found []string
	for _, m := range matches {
		found = append(found, m.PatternName)
	}
	if len(found) == 0 {
		return ""
	}
	return " (" + strings.Join(found, ", ") + ")"
}
