package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/models"
	"github.com/hookrelay/hookrelay/models/dbtest"
	"github.com/stretchr/testify/require"
)

// The load tool: go test -run TestLoad -count=1 . -args -load.full
// It starts hookrelay as its own process against a fresh database (or, with -load.url and
// -load.key, uses an instance already running on this machine), sets up webhooks through the
// management API to receivers on loopback in this process, and reports ingestion and delivery
// rates, latency and memory. Without -load.full it runs a short form that CI can afford; its
// figures are not the targets.
var (
	loadFull    = flag.Bool("load.full", false, "run the full load test")
	loadRate    = flag.Int("load.rate", 500, "events per second for the latency phase")
	loadSeconds = flag.Int("load.seconds", 10, "length of the latency phase")
	loadEvents  = flag.Int("load.events", 20000, "events for the throughput phases")
	loadConc    = flag.Int("load.concurrency", 32, "requests at once in the single-event phase")
	loadBatch   = flag.Int("load.batch", 500, "events per request in the batch phase")
	loadPhases  = flag.String("load.phases", "single,batch,latency", "the phases to run, in order")
	loadURL     = flag.String("load.url", "", "base URL of a running instance on this machine (default: start one); it must allow private targets")
	loadKey     = flag.String("load.key", "", "an admin API key of the instance at -load.url")
)

type loadReceiver struct {
	mu       sync.Mutex
	received map[string]time.Time // event id → first receipt
	count    atomic.Int64
	srv      *httptest.Server
}

func newLoadReceiver() *loadReceiver {
	lr := &loadReceiver{received: map[string]time.Time{}}
	lr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		var body struct {
			ID      string `json:"id"`
			Changes []struct {
				EventID string `json:"event_id"`
			} `json:"changes"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		lr.mu.Lock()
		if len(body.Changes) == 0 {
			if _, ok := lr.received[body.ID]; !ok {
				lr.received[body.ID] = now
			}
		}
		for _, c := range body.Changes {
			if _, ok := lr.received[c.EventID]; !ok {
				lr.received[c.EventID] = now
			}
		}
		lr.mu.Unlock()
		lr.count.Add(1)
	}))
	return lr
}

func (lr *loadReceiver) got(id string) (time.Time, bool) {
	lr.mu.Lock()
	defer lr.mu.Unlock()
	t, ok := lr.received[id]
	return t, ok
}

// loadAPI calls the management API of the instance under load.
type loadAPI struct {
	client  *http.Client
	base    string
	key     string
	partner string
}

func (la *loadAPI) call(method, path string, body any) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, la.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+la.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := la.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

// webhook makes a webhook of the load partner to url and returns its removal.
func (la *loadAPI) webhook(t *testing.T, url, format string, window int, types []string) func() {
	if la.partner == "" {
		p, err := la.call("POST", "/api/v1/partners", map[string]any{"name": "Load " + models.NewID("")})
		require.NoError(t, err)
		la.partner = p["id"].(string)
		t.Cleanup(func() { _, _ = la.call("DELETE", "/api/v1/partners/"+la.partner, nil) })
	}
	w, err := la.call("POST", "/api/v1/webhooks", map[string]any{"partner_id": la.partner, "name": "load " + models.NewID(""),
		"url": url, "format": format, "batch_window_seconds": window, "event_types": types})
	require.NoError(t, err)
	id := w["id"].(string)
	return func() { _, _ = la.call("DELETE", "/api/v1/webhooks/"+id, nil) }
}

// metric reads one series without labels from the instance's /metrics (-1: not there).
func (la *loadAPI) metric(name string) float64 {
	resp, err := la.client.Get(la.base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				return f
			}
		}
	}
	return -1
}

// residentMemory reads the instance's resident memory from its /metrics.
func (la *loadAPI) residentMemory() string {
	if f := la.metric("process_resident_memory_bytes"); f >= 0 {
		return fmt.Sprintf("%.0f MB resident at the end", f/1e6)
	}
	return "unknown"
}

// poolWaits is how often and how long the instance's work has waited for a database connection.
func (la *loadAPI) poolWaits() (n, seconds float64) {
	return la.metric("hookrelay_db_empty_acquires_total"), la.metric("hookrelay_db_empty_acquire_wait_seconds_total")
}

func poolLine(phase string, n0, s0, n1, s1 float64) string {
	return fmt.Sprintf("%s: waits for a database connection (none idle): %.0f, %.2f s in all", phase, n1-n0, s1-s0)
}

func postEvents(client *http.Client, base, key, typ string, n int) ([]string, error) {
	evs := make([]map[string]any, n)
	tag := models.NewID("")[20:] // distinct objects: nothing is collapsed away
	for i := range evs {
		evs[i] = map[string]any{"type": typ, "object": "enrolment", "object_id": tag + "-" + strconv.Itoa(i), "data": map[string]any{"learner": "bob@example.com", "score": i}}
	}
	var body []byte
	if n == 1 {
		body, _ = json.Marshal(evs[0])
	} else {
		body, _ = json.Marshal(map[string]any{"events": evs})
	}
	req, _ := http.NewRequest("POST", base+"/api/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	if n == 1 {
		var e struct {
			ID string `json:"id"`
		}
		err := json.NewDecoder(resp.Body).Decode(&e)
		return []string{e.ID}, err
	}
	var out struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out.Events))
	for i, e := range out.Events {
		ids[i] = e.ID
	}
	return ids, nil
}

// peakMemory reads a process's peak resident memory from /proc.
func peakMemory(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:"))
		}
	}
	return "unknown"
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// TestLoad runs three phases, each on a fresh webhook of the event format with a batch window
// of 0 and default settings, so that its figures can be set beside another service's sent the
// same way:
//   - single: -load.events posts of one event each, -load.concurrency at once (the shape the
//     platform sends in): events accepted per second, deliveries per second end to end (first
//     post to last receipt) and the latency of the posts themselves;
//   - batch: the same events posted -load.batch per request by 4 clients;
//   - latency: -load.rate single-event posts per second for -load.seconds, open loop, and the
//     time from each 202 to the receipt of its event.
func TestLoad(t *testing.T) {
	events, rate, seconds := *loadEvents, *loadRate, *loadSeconds
	if !*loadFull {
		events, rate, seconds = 2000, 100, 2
	}
	lr := newLoadReceiver()
	defer lr.srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	la := &loadAPI{client: client, base: *loadURL, key: *loadKey}
	var inst *instance
	if la.base == "" {
		_, key, err := dbtest.DB(t).CreateAPIKey(context.Background(), models.System, "load", models.ScopeAdmin)
		require.NoError(t, err)
		// Development: webhooks to plain-http receivers on loopback may be saved. Otherwise the
		// defaults, as an operator would run it.
		inst = startInstance(t, "HOOKRELAY_ENV=development", "HOOKRELAY_DELIVERY_TIMEOUT=15s")
		la.base, la.key = inst.url, key
	} else {
		require.NotEmpty(t, la.key, "-load.url needs -load.key, an admin API key of that instance")
	}
	report := []string{fmt.Sprintf("load test on %d cores (%s/%s), PostgreSQL on the same machine, %d events per phase, one webhook (event format, window 0) per phase",
		runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, events)}
	waitDelivered := func(ids []string, timeout time.Duration) time.Time {
		deadline := time.Now().Add(timeout)
		var last time.Time
		for _, id := range ids {
			for {
				if at, ok := lr.got(id); ok {
					if at.After(last) {
						last = at
					}
					break
				}
				if time.Now().After(deadline) {
					if inst == nil {
						t.Fatalf("event %s not delivered in time", id)
					}
					var diag []string
					rows, _ := dbtest.DB(t).Pool.Query(context.Background(), `
						SELECT 'message ' || state, count(*) FROM messages GROUP BY state
						UNION ALL SELECT 'change ' || state, count(*) FROM changes GROUP BY state`)
					for rows.Next() {
						var k string
						var n int
						_ = rows.Scan(&k, &n)
						diag = append(diag, fmt.Sprintf("%s=%d", k, n))
					}
					rows.Close()
					out := inst.out.String()
					t.Fatalf("event %s not delivered in time; %v\ninstance log tail:\n%s", id, diag, out[max(0, len(out)-3000):])
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
		return last
	}
	deliveryTimeout := time.Duration(max(60, events/100)) * time.Second
	pid := 0
	if inst != nil {
		pid = inst.cmd.Process.Pid
	}

	// Each phase's webhook is removed at the end, not between phases: removing one cascades over
	// its messages and attempts and wakes autovacuum, which would land on the next phase. Each
	// phase posts its own event type, so that only its own webhook wants its events.
	phase := func(name string) bool { return slices.Contains(strings.Split(*loadPhases, ","), name) }

	// Phase 1: one event per request, many at once.
	if phase("single") {
		defer la.webhook(t, lr.srv.URL, models.FormatEvent, 0, []string{"course.completed"})()
		cpu := readCPU(pid)
		n0, s0 := la.poolWaits()
		posted, postLat, elapsed := postAll(t, client, la.base, la.key, "course.completed", events, 1, *loadConc)
		last := waitDelivered(posted.ids, deliveryTimeout)
		cpuLine := cpuPerEvent(cpu, readCPU(pid), len(posted.ids), time.Since(posted.start))
		report = append(report, fmt.Sprintf("single: %d events, one per request, %d at once: %.0f events/s accepted, %.0f deliveries/s end to end, post latency p50 %s / p99 %s",
			len(posted.ids), *loadConc, float64(len(posted.ids))/elapsed.Seconds(), float64(len(posted.ids))/last.Sub(posted.start).Seconds(),
			roundMs(percentile(postLat, .50)), roundMs(percentile(postLat, .99))), "single: "+cpuLine)
		n1, s1 := la.poolWaits()
		report = append(report, poolLine("single", n0, s0, n1, s1))
	}

	// Phase 2: the batch API.
	if phase("batch") {
		defer la.webhook(t, lr.srv.URL, models.FormatEvent, 0, []string{"badge.awarded"})()
		per := min(*loadBatch, events)
		cpu := readCPU(pid)
		n0, s0 := la.poolWaits()
		posted, _, elapsed := postAll(t, client, la.base, la.key, "badge.awarded", events, per, 4)
		last := waitDelivered(posted.ids, deliveryTimeout)
		cpuLine := cpuPerEvent(cpu, readCPU(pid), len(posted.ids), time.Since(posted.start))
		var toReceipt []time.Duration
		for i, id := range posted.ids {
			got, _ := lr.got(id)
			toReceipt = append(toReceipt, max(0, got.Sub(posted.acked[i])))
		}
		report = append(report, fmt.Sprintf("batch: %d events, %d per request, 4 clients: %.0f events/s accepted, %.0f deliveries/s end to end, 202 to receipt p50 %s / p99 %s",
			len(posted.ids), per, float64(len(posted.ids))/elapsed.Seconds(), float64(len(posted.ids))/last.Sub(posted.start).Seconds(),
			roundMs(percentile(toReceipt, .50)), roundMs(percentile(toReceipt, .99))), "batch: "+cpuLine)
		n1, s1 := la.poolWaits()
		report = append(report, poolLine("batch", n0, s0, n1, s1))
	}

	// Phase 3: latency from acceptance to receipt at a steady rate. Open loop: post i goes out at
	// start + i/rate whatever became of the earlier ones, so a slow answer delays nothing else
	// and the rate is the one asked for.
	if phase("latency") {
		defer la.webhook(t, lr.srv.URL, models.FormatEvent, 0, []string{"training.updated"})()
		type sent struct {
			id string
			at time.Time
		}
		var (
			sents []sent
			mu    sync.Mutex
			wg    sync.WaitGroup
		)
		total := rate * seconds
		start := time.Now()
		// The pool's waits at the start of each tenth of the phase, and at its end.
		var waits [][2]float64
		for i := range total {
			if i%(total/10) == 0 {
				n, s := la.poolWaits()
				waits = append(waits, [2]float64{n, s})
			}
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))))
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, err := postEvents(client, la.base, la.key, "training.updated", 1)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				sents = append(sents, sent{ids[0], time.Now()})
				mu.Unlock()
			}()
		}
		wg.Wait()
		postRate := float64(total) / time.Since(start).Seconds()
		ids := make([]string, len(sents))
		for i, s := range sents {
			ids[i] = s.id
		}
		waitDelivered(ids, 2*time.Minute)
		var lat []time.Duration
		for _, s := range sents {
			got, _ := lr.got(s.id)
			lat = append(lat, max(0, got.Sub(s.at)))
		}
		report = append(report, fmt.Sprintf("latency at %d events/s (%d single-event posts, %.0f/s achieved): p50 %s, p95 %s, p99 %s from 202 to receipt",
			rate, len(lat), postRate, roundMs(percentile(lat, .50)), roundMs(percentile(lat, .95)), roundMs(percentile(lat, .99))))
		// Where in the phase the slow ones were: a start that falls behind and catches up reads
		// differently from a steady tail.
		var tenths []string
		for i := range 10 {
			var part []time.Duration
			for _, s := range sents[i*len(sents)/10 : (i+1)*len(sents)/10] {
				got, _ := lr.got(s.id)
				part = append(part, max(0, got.Sub(s.at)))
			}
			tenths = append(tenths, roundMs(percentile(part, .99)).String())
		}
		report = append(report, "latency p99 per tenth of the phase, in order: "+strings.Join(tenths, ", "))
		n, sec := la.poolWaits()
		waits = append(waits, [2]float64{n, sec})
		var perTenth []string
		for i := 1; i < len(waits); i++ {
			perTenth = append(perTenth, fmt.Sprintf("%.0f (%.2f s)", waits[i][0]-waits[i-1][0], waits[i][1]-waits[i-1][1]))
		}
		report = append(report, "latency: waits for a database connection (none idle) per tenth: "+strings.Join(perTenth, ", "))
	}
	if inst != nil {
		report = append(report, "peak memory of the hookrelay process (VmHWM): "+peakMemory(inst.cmd.Process.Pid))
	} else {
		report = append(report, "memory of the hookrelay process: "+la.residentMemory())
	}
	for _, line := range report {
		t.Log(line)
		fmt.Println(line)
	}
}

func roundMs(d time.Duration) time.Duration { return d.Round(time.Millisecond / 10) }

// posted is what a phase posted: the ids in order and when each was acknowledged.
type posted struct {
	start time.Time
	ids   []string
	acked []time.Time
}

// postAll posts n events of type typ, per in each request, from clients goroutines,
// and returns them with the latency of each request and the time all took.
func postAll(t *testing.T, client *http.Client, base, key, typ string, n, per, clients int) (posted, []time.Duration, time.Duration) {
	reqs := make(chan int, n/per+1)
	for i := 0; i < n/per; i++ {
		reqs <- i
	}
	close(reqs)
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out = posted{start: time.Now()}
		lat []time.Duration
	)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range reqs {
				began := time.Now()
				ids, err := postEvents(client, base, key, typ, per)
				if err != nil {
					t.Error(err)
					return
				}
				now := time.Now()
				mu.Lock()
				out.ids = append(out.ids, ids...)
				for range ids {
					out.acked = append(out.acked, now)
				}
				lat = append(lat, now.Sub(began))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, lat, time.Since(out.start)
}

// cpuTimes is the CPU time used so far by the machine, the hookrelay process and this one, in
// clock ticks (USER_HZ, 100 a second on Linux), read from /proc.
type cpuTimes struct{ machine, hookrelay, self int64 }

func readCPU(pid int) cpuTimes {
	var c cpuTimes
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i := 1; i < len(f) && i <= 8; i++ {
			if i == 4 || i == 5 { // idle, iowait
				continue
			}
			n, _ := strconv.ParseInt(f[i], 10, 64)
			c.machine += n
		}
	}
	proc := func(pid string) int64 {
		b, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil {
			return 0
		}
		_, rest, _ := strings.Cut(string(b), ") ")
		f := strings.Fields(rest) // from field 3, state: utime and stime are fields 14 and 15
		if len(f) < 13 {
			return 0
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		return u + s
	}
	if pid > 0 {
		c.hookrelay = proc(strconv.Itoa(pid))
	}
	c.self = proc("self")
	return c
}

// cpuPerEvent says how the CPU time between two readings divides per event: hookrelay, this
// load tool (senders and receiver), and the rest of the machine (PostgreSQL, mostly). Per event
// rather than per second, because the machine is saturated and rates move with whatever else
// runs; without a hookrelay process of its own it is counted in the rest.
func cpuPerEvent(from, to cpuTimes, events int, elapsed time.Duration) string {
	const tick = 10 * time.Millisecond
	per := func(ticks int64) time.Duration { return time.Duration(ticks) * tick / time.Duration(events) }
	busy := float64(time.Duration(to.machine-from.machine)*tick) / float64(elapsed) / float64(runtime.NumCPU()) * 100
	return fmt.Sprintf("CPU per event: %s in all, hookrelay %s, load tool %s, the rest (PostgreSQL, mostly) %s; the machine %.0f%% busy",
		per(to.machine-from.machine).Round(time.Microsecond), per(to.hookrelay-from.hookrelay).Round(time.Microsecond),
		per(to.self-from.self).Round(time.Microsecond),
		per((to.machine-from.machine)-(to.hookrelay-from.hookrelay)-(to.self-from.self)).Round(time.Microsecond), busy)
}
