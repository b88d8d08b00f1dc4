package observe

import (
	"cmp"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// BuildInfo is what the running binary says of its build.
type BuildInfo struct {
	// Version is the main module's version: a tag such as v1.2.0 for a
	// binary built by go install, "(devel)" for one built in a checkout.
	Version string
	// Revision is the VCS revision the binary was built from, with
	// "-modified" if the tree had changes; "unknown" if not recorded
	// (go test, -buildvcs=false).
	Revision string
	// GoVersion is the toolchain's version (go1.26.8).
	GoVersion string
}

// ReadBuildInfo reads the binary's BuildInfo (runtime/debug.ReadBuildInfo).
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "unknown", Revision: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version = cmp.Or(bi.Main.Version, b.Version)
	b.GoVersion = cmp.Or(bi.GoVersion, b.GoVersion)
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = cmp.Or(s.Value, b.Revision)
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified && b.Revision != "unknown" {
		b.Revision += "-modified"
	}
	return b
}

// buildInfo is the constant jobplan_hub_build_info gauge.
func buildInfo() prometheus.Collector {
	b := ReadBuildInfo()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: MetricBuildInfo,
		Help: "Always 1; its labels say what the binary is: version (the module's), revision (VCS, -modified if the tree had changes), goversion.",
	}, []string{"version", "revision", "goversion"})
	g.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	return g
}
