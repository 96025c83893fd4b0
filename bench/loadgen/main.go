// Command loadgen makes HTTP traffic on loopback for the capture benchmark.
//
// One process runs both sides: a net/http server on 127.0.0.1:PORT and
// [::1]:PORT, and WORKERS client goroutines speaking raw HTTP/1.1 over TCP so
// that each client chooses exactly how its connection ends:
//
//	complete   read the whole response, then close (client FIN after the
//	           server's FIN for "Connection: close", client FIN first for
//	           keep-alive connections);
//	fin-early  read part of the response (possibly nothing), then close():
//	           client FIN while the server is still writing, so the server's
//	           next segments are answered with RST by the client kernel;
//	rst-early  same, but SO_LINGER 0 first: close() sends RST at once.
//
// Every loop is bounded: it stops after -duration, after -conns connections,
// or on SIGINT/SIGTERM, whichever comes first. Loopback only, by construction.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// responseSizes is the body-size mix: weight, then a range [lo, hi) in bytes.
// Mostly small answers (many packets, few bytes) with a tail of large ones
// (64 KiB segments on loopback), which gives about 1.8 KB per captured packet.
type sizeRange struct {
	weight int
	lo, hi int
}

var responseSizes = []sizeRange{
	{42, 100, 600},
	{31, 1000, 8192},
	{19, 8060, 32768},
	{7, 65536, 131072},
	{1, 196608, 393216},
}

// endings is the mix of how a client ends its connection, by weight.
type ending struct {
	weight int
	name   string
}

var endings = []ending{
	{60, "complete"},
	{20, "fin-early"},
	{20, "rst-early"},
}

var chunk = make([]byte, 64*1024)

func serve(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	w.Header().Set("Content-Length", strconv.Itoa(n))
	w.Header().Set("Content-Type", "application/octet-stream")
	for n > 0 {
		k := n
		if k > len(chunk) {
			k = len(chunk)
		}
		if _, err := w.Write(chunk[:k]); err != nil {
			return // the client went away: the aborts are the point
		}
		n -= k
	}
}

func pick[T any](rng *rand.Rand, items []T, weight func(T) int) T {
	total := 0
	for _, it := range items {
		total += weight(it)
	}
	x := rng.Intn(total)
	for _, it := range items {
		x -= weight(it)
		if x < 0 {
			return it
		}
	}
	return items[len(items)-1]
}

type counters struct {
	conns, requests, complete, finEarly, rstEarly, errors atomic.Int64
}

// oneConnection opens one TCP connection, makes 1-3 requests on it and ends it
// as chosen. It returns an error only for unexpected failures.
func oneConnection(rng *rand.Rand, addr string, c *counters) error {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return err
	}
	tcp := conn.(*net.TCPConn)
	defer tcp.Close()
	_ = tcp.SetDeadline(time.Now().Add(10 * time.Second))
	c.conns.Add(1)

	requests := 1
	if rng.Intn(4) == 0 {
		requests = 2 + rng.Intn(2) // some keep-alive connections
	}
	how := pick(rng, endings, func(e ending) int { return e.weight }).name
	reader := bufio.NewReaderSize(tcp, 64*1024)
	serverCloses := false
	for i := 0; i < requests; i++ {
		size := pick(rng, responseSizes, func(s sizeRange) int { return s.weight })
		n := size.lo + rng.Intn(size.hi-size.lo)
		last := i == requests-1
		connHdr := "keep-alive"
		if last && how == "complete" && rng.Intn(2) == 0 {
			connHdr = "close" // the server closes first
			serverCloses = true
		}
		req := fmt.Sprintf("GET /?n=%d HTTP/1.1\r\nHost: bench\r\nConnection: %s\r\n\r\n", n, connHdr)
		if _, err := io.WriteString(tcp, req); err != nil {
			return err
		}
		c.requests.Add(1)
		if last && how != "complete" {
			// Read a part of the response (maybe none) then leave early.
			if part := rng.Intn(n/2 + 1); part > 0 {
				if _, err := io.CopyN(io.Discard, reader, int64(part)); err != nil {
					return err
				}
			}
			if how == "rst-early" {
				_ = tcp.SetLinger(0)
				c.rstEarly.Add(1)
			} else {
				c.finEarly.Add(1)
			}
			return nil
		}
		resp, err := http.ReadResponse(reader, nil)
		if err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		resp.Body.Close()
	}
	c.complete.Add(1)
	if serverCloses {
		// Wait for the server's FIN, so our close() comes after it.
		_, _ = reader.ReadByte()
	}
	return nil
}

func main() {
	port := flag.Int("port", 18080, "server port (the capture filter is 'tcp port PORT')")
	duration := flag.Duration("duration", 120*time.Second, "stop after this long")
	maxConns := flag.Int64("conns", 1_000_000, "stop after this many connections")
	workers := flag.Int("workers", 16, "concurrent client goroutines")
	ipv6Share := flag.Int("ipv6-percent", 20, "share of connections over ::1")
	seed := flag.Int64("seed", 1, "random seed")
	rate := flag.Float64("rate", 6000, "connections per second, all workers together (0: as fast as possible); tcpdump drops packets when pushed harder")
	flag.Parse()

	srv := &http.Server{Handler: http.HandlerFunc(serve), ErrorLog: nil}
	var listeners []net.Listener
	for _, addr := range []string{fmt.Sprintf("127.0.0.1:%d", *port), fmt.Sprintf("[::1]:%d", *port)} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "listen:", err)
			os.Exit(2)
		}
		listeners = append(listeners, ln)
		go srv.Serve(ln)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; cancel() }()

	// Tell the driver we are listening, so it can start clients' clock.
	fmt.Println("ready")

	var c counters
	var started atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < *workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(*seed*1000 + int64(w)))
			// Pacing: this worker's i-th connection starts at t0 + i*period.
			period := time.Duration(0)
			if *rate > 0 {
				period = time.Duration(float64(*workers) / *rate * float64(time.Second))
			}
			for i := 0; ctx.Err() == nil && started.Add(1) <= *maxConns; i++ {
				if wait := time.Until(t0.Add(time.Duration(i) * period)); wait > 0 {
					time.Sleep(wait)
				}
				addr := fmt.Sprintf("127.0.0.1:%d", *port)
				if rng.Intn(100) < *ipv6Share {
					addr = fmt.Sprintf("[::1]:%d", *port)
				}
				if err := oneConnection(rng, addr, &c); err != nil {
					c.errors.Add(1)
				}
			}
		}(w)
	}
	wg.Wait()
	for _, ln := range listeners {
		ln.Close()
	}
	summary := map[string]any{
		"seconds":   time.Since(t0).Seconds(),
		"conns":     c.conns.Load(),
		"requests":  c.requests.Load(),
		"complete":  c.complete.Load(),
		"fin_early": c.finEarly.Load(),
		"rst_early": c.rstEarly.Load(),
		"errors":    c.errors.Load(),
	}
	_ = json.NewEncoder(os.Stdout).Encode(summary)
}
