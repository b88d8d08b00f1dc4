// Command benchconvert is `make bench` for convert: it generates a large
// layout-(a) export (once), runs the built jobplan-hub binary on it, and
// prints rows/s, MB/s and the child's peak RSS against the targets.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
)

func main() {
	rows := flag.Int("rows", 1_000_000, "rows to generate")
	bin := flag.String("bin", "bin/jobplan-hub", "jobplan-hub binary")
	dir := flag.String("dir", ".bench", "work directory")
	minRate := flag.Float64("min-rows-per-sec", 500_000, "target throughput")
	maxRSS := flag.Float64("max-rss-mb", 64, "target peak RSS")
	outDirs := flag.String("out", ".bench/out,/dev/shm/jobplan-hub-bench", "comma-separated output directories to measure (disk, and tmpfs to separate the pipeline from disk bandwidth)")
	flag.Parse()
	if err := run(*rows, *bin, *dir, strings.Split(*outDirs, ","), *minRate, *maxRSS); err != nil {
		fmt.Fprintln(os.Stderr, "benchconvert:", err)
		os.Exit(1)
	}
}

func run(rows int, bin, dir string, outs []string, minRate, maxRSS float64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	input := filepath.Join(dir, fmt.Sprintf("sard-%d.csv", rows))
	if _, err := os.Stat(input); err != nil {
		f, err := os.Create(input + ".part")
		if err != nil {
			return err
		}
		if err := bench.WriteSard(f, rows); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		if err := os.Rename(input+".part", input); err != nil {
			return err
		}
	}
	st, err := os.Stat(input)
	if err != nil {
		return err
	}
	for _, out := range outs {
		if err := measure(bin, input, out, rows, st.Size(), minRate, maxRSS); err != nil {
			return err
		}
	}
	return nil
}

// measure runs one conversion into out and prints its figures.
func measure(bin, input, out string, rows int, size int64, minRate, maxRSS float64) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(out)
	os.RemoveAll(out)
	cmd := exec.Command(bin, "convert", "--quiet", "--mapping", "mappings/sard-wide.yaml", "--out", out, input)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if code := cmd.ProcessState.ExitCode(); code > 1 || (err != nil && code < 0) {
		return fmt.Errorf("convert failed: %v", err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	rssMB := float64(ru.Maxrss) / 1024 // Linux reports KiB
	rate := float64(rows) / elapsed.Seconds()
	mbps := float64(size) / 1e6 / elapsed.Seconds()
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Printf("convert %d rows (%.0f MB) into %s: %.2fs, %.0f rows/s, %.1f MB/s, peak RSS %.1f MB\n", rows, float64(size)/1e6, out, elapsed.Seconds(), rate, mbps, rssMB)
	fmt.Printf("  cpu: user %.2fs, system %.2fs on %d cores\n", time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), runtime.NumCPU())
	fmt.Printf("  target >= %.0f rows/s: %s; target peak RSS < %.0f MB: %s\n", minRate, verdict(rate >= minRate), maxRSS, verdict(rssMB < maxRSS))
	return nil
}
