// Command benchreconcile is `make bench` for reconcile at a national scale:
// it generates (once) a million job-plan records and a payroll extract of a
// million rows with a department column, runs the built jobplan-hub binary
// on them, and prints the time, the child's peak RSS and the outputs'
// sizes against the targets.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/nhs-esr/jobplan-hub/internal/bench"
)

func main() {
	plans := flag.Int("plans", 1_000_000, "job-plan records to generate")
	rows := flag.Int("payroll", 1_000_000, "payroll rows to generate")
	bin := flag.String("bin", "bin/jobplan-hub", "jobplan-hub binary")
	dir := flag.String("dir", ".bench", "work directory")
	maxSecs := flag.Float64("max-seconds", 20, "target wall-clock time")
	maxRSS := flag.Float64("max-rss-mb", 300, "target peak RSS")
	flag.Parse()
	if err := run(*plans, *rows, *bin, *dir, *maxSecs, *maxRSS); err != nil {
		fmt.Fprintln(os.Stderr, "benchreconcile:", err)
		os.Exit(1)
	}
}

func run(plans, rows int, bin, dir string, maxSecs, maxRSS float64) error {
	work := filepath.Join(dir, fmt.Sprintf("reconcile-%d-%d", plans, rows))
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	plansPath := filepath.Join(work, "plans.jobplans.jsonl")
	payPath := filepath.Join(work, "payroll.csv")
	cfgPath := filepath.Join(work, "payroll.yaml")
	for _, g := range []struct {
		path string
		gen  func(io.Writer) error
	}{
		{plansPath, func(w io.Writer) error { return bench.WritePlans(w, plans) }},
		{payPath, func(w io.Writer) error { return bench.WritePayroll(w, rows) }},
		{cfgPath, func(w io.Writer) error { _, err := io.WriteString(w, bench.PayrollConfig); return err }},
	} {
		if err := generate(g.path, g.gen); err != nil {
			return err
		}
	}
	out := filepath.Join(work, "out")
	os.RemoveAll(out)
	defer os.RemoveAll(out)
	cmd := exec.Command(bin, "reconcile", "--quiet", "--payroll", payPath, "--payroll-mapping", cfgPath,
		"--plans-apa-reading", "in_total", "--out", out, plansPath)
	cmd.Stderr = os.Stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	// Exit status 1 is expected: the generated extract pays some plans
	// wrongly on purpose.
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		return fmt.Errorf("reconcile exited %d, want 1 (misalignments found): %v", code, err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	rssMB := float64(ru.Maxrss) / 1024 // Linux reports KiB
	size := func(name string) float64 {
		st, err := os.Stat(filepath.Join(out, name))
		if err != nil {
			return -1
		}
		return float64(st.Size()) / 1e6
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "FAIL"
	}
	fmt.Printf("reconcile %d plans against %d payroll rows: %.2fs, %.0f records/s, peak RSS %.1f MB\n",
		plans, rows, elapsed.Seconds(), float64(plans+rows)/elapsed.Seconds(), rssMB)
	fmt.Printf("  cpu: user %.2fs, system %.2fs on %d cores; reconcile.csv %.0f MB, reconcile.html %.2f MB\n",
		time.Duration(ru.Utime.Nano()).Seconds(), time.Duration(ru.Stime.Nano()).Seconds(), runtime.NumCPU(), size("reconcile.csv"), size("reconcile.html"))
	fmt.Printf("  target <= %.0fs: %s; target peak RSS <= %.0f MB: %s\n", maxSecs, verdict(elapsed.Seconds() <= maxSecs), maxRSS, verdict(rssMB <= maxRSS))
	return nil
}

// generate writes path once (under a temporary name, renamed when whole).
func generate(path string, gen func(io.Writer) error) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	f, err := os.Create(path + ".part")
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if err := gen(bw); err != nil {
		f.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(path+".part", path)
}
