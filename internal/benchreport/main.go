// Command benchreport runs the project's Go benchmarks and prints one
// table: each operation, its floor measured in the same run, the ratio, and
// the target. It is how the README's performance figures are made:
//
//	go run ./internal/benchreport            # a few minutes
//	go run ./internal/benchreport -full      # growth up to 10^6 users (longer)
//
// PostgreSQL and MySQL rows appear when MFA_TEST_POSTGRES_DSN and
// MFA_TEST_MYSQL_DSN are set (source .ci/services.sh to start throwaway
// servers). Each benchmark runs -count times; the table shows medians.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
)

func main() {
	count := flag.Int("count", 3, "runs of each benchmark; the table shows the median")
	full := flag.Bool("full", false, "growth at 10^3, 10^5 and 10^6 users (10^3 and 10^5 on PostgreSQL and MySQL)")
	flag.Parse()

	r := &report{results: map[string][]result{}}
	c := strconv.Itoa(*count)
	r.run(nil, "-bench", "^Benchmark(FloorTOTPInvalid|VerifyInvalidCode|Enable|RedeemRecoveryCode|Setup|VerifyParallel)$", "-benchtime", "1s", "-count", c, ".")
	r.run(nil, "-bench", "^BenchmarkPeerBcryptRecoveryScan$", "-benchtime", "1s", "-count", c, "./examples/server")
	r.run(nil, "-bench", ".", "-benchtime", "1s", "-count", c, "./http")
	r.run(nil, "-bench", "^Benchmark(FloorSelect1|FloorWrite|FloorEnableTx|Enable|AdvanceStep|ConsumeRecoveryCode)$", "-benchtime", "1s", "-count", c, "./sqlstore")
	r.run(nil, "-bench", "^BenchmarkOutbox$", "-benchtime", "500x", "-count", c, "./sqlstore")
	r.run(nil, "-bench", "^BenchmarkCeremony$", "-benchtime", "2000x", "-count", c, "./sqlstore")
	r.run(nil, "-bench", ".", "-benchtime", "1s", "-count", c, "./webauthn")
	mem, sqlite, server := "1000,10000", "1000,10000", "1000,10000"
	if *full {
		mem, sqlite, server = "1000,100000,1000000", "1000,100000,1000000", "1000,100000"
	}
	r.run([]string{"MFA_BENCH_GROWTH=" + mem}, "-bench", "^BenchmarkGrowth$", "-benchtime", "3000x", "-count", c, "-timeout", "60m", ".")
	r.run([]string{"MFA_BENCH_GROWTH_SQLITE=" + sqlite, "MFA_BENCH_GROWTH_POSTGRES=" + server, "MFA_BENCH_GROWTH_MYSQL=" + server},
		"-bench", "^BenchmarkGrowth$", "-benchtime", "200x", "-count", c, "-timeout", "60m", "./sqlstore")
	r.print(os.Stdout)
}

type result struct {
	nsPerOp float64
	metrics map[string]float64
}

type report struct {
	results map[string][]result
	order   []string
	cpu     string
}

// run runs go test with args and collects its benchmark lines.
func (r *report) run(env []string, args ...string) {
	cmd := exec.Command("go", append([]string{"test", "-run", "^$", "-benchmem"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	fmt.Fprintf(os.Stderr, "running go test %s\n", strings.Join(args, " "))
	out, err := cmd.Output()
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n%s", err, out)
		os.Exit(1)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			r.cpu = cpu
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndex(name, "-"); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		res := result{metrics: map[string]float64{}}
		res.nsPerOp, _ = strconv.ParseFloat(f[2], 64)
		for i := 4; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err == nil {
				res.metrics[f[i+1]] = v
			}
		}
		if _, seen := r.results[name]; !seen {
			r.order = append(r.order, name)
		}
		r.results[name] = append(r.results[name], res)
	}
}

// median returns the median ns/op of a benchmark, or of one of its metrics.
func (r *report) median(name, metric string) (float64, bool) {
	var vs []float64
	for _, res := range r.results[name] {
		if metric == "" {
			vs = append(vs, res.nsPerOp)
		} else if v, ok := res.metrics[metric]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0, false
	}
	sort.Float64s(vs)
	return vs[len(vs)/2], true
}

type row struct {
	op, floor     string
	ns, floorNs   float64
	ratio, target string
	met           string
}

func (r *report) print(w *os.File) {
	fmt.Fprintf(w, "\nmachine: %s, %d CPUs, %s/%s, %s\n\n", r.cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	var rows []row
	// add adds the row of op against floor: the ratio is the benchmark's own
	// metric when it reports one, else ns/op over the floor's; max is the
	// target ratio, 0 for a figure reported without a target.
	add := func(op, floor string, metric string, max float64) {
		ns, ok := r.median(op, "")
		if !ok {
			return
		}
		rw := row{op: op, ns: ns, floor: floor, target: fmt.Sprintf("≤ %.2g×", max)}
		var ratio float64
		if v, ok := r.median(op, metric); metric != "" && ok {
			ratio = v // measured against the floor inside the benchmark
		}
		if fns, ok := r.median(floor, ""); ok {
			rw.floorNs = fns
			if ratio == 0 {
				ratio = ns / fns
			}
		}
		switch {
		case ratio > 0 && max == 0:
			rw.ratio, rw.target = fmt.Sprintf("%.2f×", ratio), "(reported)"
		case ratio > 0:
			rw.ratio = fmt.Sprintf("%.2f×", ratio)
			rw.met = verdict(ratio <= max)
		}
		rows = append(rows, rw)
	}
	absolute := func(op string, maxNs float64, label string) {
		if ns, ok := r.median(op, ""); ok {
			rows = append(rows, row{op: op, ns: ns, target: "≤ " + label, met: verdict(ns <= maxNs)})
		}
	}

	add("VerifyInvalidCode/factors=1", "FloorTOTPInvalid", "x-floor", 2.5)
	add("VerifyInvalidCode/factors=5", "FloorTOTPInvalid (×5)", "x-floor", 1.2)
	absolute("RedeemRecoveryCode", 1000, "1 µs")
	absolute("Enable", 15000, "15 µs")
	absolute("Setup", 1e6, "1 ms")
	if peer, ok := r.median("PeerBcryptRecoveryScan", ""); ok {
		if ours, ok := r.median("RedeemRecoveryCode", ""); ok {
			rows = append(rows, row{op: "PeerBcryptRecoveryScan", ns: peer, floor: "RedeemRecoveryCode", floorNs: ours,
				ratio: fmt.Sprintf("%.0f×", peer/ours), target: "(peer approach)"})
		}
	}
	add("HTTPStatus", "FloorHTTPJSON", "x-floor", 1.3)
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		add("Enable/"+d, "FloorEnableTx/"+d, "x-floor", 1.2)
		add("AdvanceStep/"+d, "FloorWrite/"+d, "x-floor", 1.5)
		add("ConsumeRecoveryCode/"+d, "FloorWrite/"+d, "x-floor", 1.5)
	}
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		for _, op := range []string{"Enable", "AdvanceStep", "ConsumeRecoveryCode"} {
			add("Outbox/"+d+"/"+op, op+" without events", "x-floor", 1.3)
		}
	}
	add("FinishLogin", "FloorECDSAVerify", "x-floor", 2)
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		add("Ceremony/"+d+"/Begin", "FloorWrite/"+d, "x-floor", 0)
		add("Ceremony/"+d+"/Finish", "FloorWrite/"+d, "x-floor", 0)
	}
	// Throughput over one goroutine's, measured interleaved with it.
	for _, g := range []string{"2", "8", "64"} {
		name := "VerifyParallel/goroutines=" + g
		v, okV := r.median(name, "checks/s")
		x, okX := r.median(name, "x-one")
		if !okV || !okX {
			continue
		}
		rw := row{op: name + " (checks/s " + strconv.Itoa(int(v)) + ")", floor: "goroutines=1", ratio: fmt.Sprintf("%.2f×", x)}
		if g == "8" {
			rw.target, rw.met = "≥ 1.5×", verdict(x >= 1.5)
		}
		rows = append(rows, rw)
	}
	rows = append(rows, r.growthRows()...)

	fmt.Fprintf(w, "| operation | ns/op | floor | floor ns/op | ratio | target | met |\n|---|---:|---|---:|---:|---|---|\n")
	for _, rw := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", rw.op, ns(rw.ns), rw.floor, ns(rw.floorNs), rw.ratio, rw.target, rw.met)
	}
}

// growthRows compares each growth benchmark at its largest size with the
// smallest: the target is at most 1.3×.
func (r *report) growthRows() []row {
	type key struct{ prefix, op string }
	sizes := map[key][]int{}
	for _, name := range r.order {
		if !strings.HasPrefix(name, "Growth/") {
			continue
		}
		i := strings.Index(name, "users=")
		j := strings.LastIndex(name, "/")
		if i < 0 || j < i {
			continue
		}
		n, err := strconv.Atoi(name[i+len("users=") : j])
		if err != nil {
			continue
		}
		k := key{name[:i], name[j+1:]}
		sizes[k] = append(sizes[k], n)
	}
	var keys []key
	for k := range sizes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a].prefix+keys[a].op < keys[b].prefix+keys[b].op })
	var rows []row
	for _, k := range keys {
		ns := sizes[k]
		sort.Ints(ns)
		small := fmt.Sprintf("%susers=%d/%s", k.prefix, ns[0], k.op)
		large := fmt.Sprintf("%susers=%d/%s", k.prefix, ns[len(ns)-1], k.op)
		a, okA := r.median(small, "")
		b, okB := r.median(large, "")
		if !okA || !okB || len(ns) < 2 {
			continue
		}
		rows = append(rows, row{op: large, ns: b, floor: fmt.Sprintf("users=%d", ns[0]), floorNs: a,
			ratio: fmt.Sprintf("%.2f×", b/a), target: "≤ 1.3×", met: verdict(b/a <= 1.3)})
	}
	return rows
}

func ns(v float64) string {
	switch {
	case v == 0:
		return ""
	case v >= 1e6:
		return fmt.Sprintf("%.2f ms", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.2f µs", v/1e3)
	}
	return fmt.Sprintf("%.0f ns", v)
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}
