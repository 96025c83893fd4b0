// The user's program, fixed only so that it compiles (the missing "log"
// import), plus flags and one JSON line per handler write so abortscope can
// line the application's view up with the wire and the syscalls.
//
// The shape is the user's: the handler sleeps, then makes ONE w.Write of N
// zero bytes and log.Println's the error. JSON events go to stdout (one
// write(2) per line, so lines from several processes appending to the same
// file never interleave); the log.Println lines go to stderr, in the Go log
// format with microseconds, in UTC.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"
)

// errnoNames: the errnos a write on a dying connection returns.
var errnoNames = map[syscall.Errno]string{
	syscall.EPIPE:        "EPIPE",
	syscall.ECONNRESET:   "ECONNRESET",
	syscall.ETIMEDOUT:    "ETIMEDOUT",
	syscall.ECONNABORTED: "ECONNABORTED",
	syscall.ENOTCONN:     "ENOTCONN",
	syscall.EBADF:        "EBADF",
}

// event is one app.jsonl line (see analysis/bundle.py).
type event struct {
	TsNs    int64   `json:"ts_ns"`
	Actor   string  `json:"actor"`
	Impl    string  `json:"impl"`
	Pid     int     `json:"pid"`
	Event   string  `json:"event"`
	Asked   *int    `json:"asked"`
	Written *int    `json:"written"`
	Error   *string `json:"error"`
	Errno   *string `json:"errno"`
	Local   *string `json:"local"`
	Remote  *string `json:"remote"`
	Detail  *string `json:"detail"`
}

func str(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func emit(e event) {
	e.TsNs = time.Now().UnixNano()
	e.Actor, e.Impl, e.Pid = "server", "go", os.Getpid()
	line, _ := json.Marshal(e)
	os.Stdout.Write(append(line, '\n')) // one write(2) per line
}

func errnoOf(err error) *string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name, ok := errnoNames[errno]; ok {
			return &name
		}
		name := "errno " + strconv.Itoa(int(errno))
		return &name
	}
	return nil
}

func localAddr(r *http.Request) string {
	if addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return addr.String()
	}
	return ""
}

func main() {
	addr := flag.String("addr", "", "listen address host:port (overrides -host/-port)")
	host := flag.String("host", "", "listen host (empty: every address, as the user's \":3000\")")
	port := flag.Int("port", 3000, "listen port")
	size := flag.Int("size", 8061, "body bytes the handler writes in its one w.Write")
	delay := flag.Duration("delay", 1*time.Second, "handler sleep before writing")
	contentLength := flag.Bool("content-length", false, "set Content-Length (no chunked encoding)")
	ctxAware := flag.Bool("ctx-aware", false, "watch r.Context() during the sleep and skip the write when the client is gone (the proper fix)")
	flush := flag.Bool("flush", false, "call http.Flusher.Flush after the write")
	sndbuf := flag.Int("sndbuf", 0, "SO_SNDBUF on each accepted connection (0: the kernel's default; Linux doubles it)")
	proxyTo := flag.String("proxy", "", "instead of the handler: a reverse proxy (httputil.ReverseProxy) to this URL")
	flag.Parse()
	if *addr == "" {
		*addr = net.JoinHostPort(*host, strconv.Itoa(*port))
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds | log.LUTC)
	if *proxyTo != "" {
		serveProxy(*addr, *proxyTo)
		return
	}

	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		local, remote := str(localAddr(r)), str(r.RemoteAddr)
		emit(event{Event: "request", Local: local, Remote: remote, Detail: str(r.Method + " " + r.URL.RequestURI())})
		if *contentLength {
			w.Header().Set("Content-Length", strconv.Itoa(*size))
		}
		if *ctxAware {
			select {
			case <-time.After(*delay):
			case <-r.Context().Done():
				err := r.Context().Err()
				emit(event{Event: "abort", Asked: size, Error: str(err.Error()), Local: local, Remote: remote,
					Detail: str("request context done during the handler's sleep: client gone, write skipped")})
				emit(event{Event: "response", Local: local, Remote: remote, Detail: str("handler returned without writing")})
				return
			}
			if err := r.Context().Err(); err != nil {
				emit(event{Event: "abort", Asked: size, Error: str(err.Error()), Local: local, Remote: remote,
					Detail: str("request context done before the write: client gone, write skipped")})
				emit(event{Event: "response", Local: local, Remote: remote, Detail: str("handler returned without writing")})
				return
			}
		} else {
			time.Sleep(*delay)
		}
		n, err := w.Write(make([]byte, *size))
		e := event{Event: "write", Asked: size, Written: &n, Local: local, Remote: remote}
		if err != nil {
			e.Event, e.Error, e.Errno = "write_error", str(err.Error()), errnoOf(err)
			log.Println(err)
		}
		emit(e)
		if *flush {
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
				emit(event{Event: "flush", Local: local, Remote: remote})
			}
		}
		emit(event{Event: "response", Local: local, Remote: remote, Detail: str("handler returned")})
	})

	// The user's http.ListenAndServe(addr, nil), plus a ConnContext hook that
	// sets SO_SNDBUF on each accepted connection when -sndbuf asks for it.
	server := &http.Server{Addr: *addr, ConnContext: func(ctx context.Context, c net.Conn) context.Context {
		if *sndbuf > 0 {
			setSendBuffer(c, *sndbuf)
		}
		return ctx
	}}
	log.Fatal(server.ListenAndServe())
}

// setSendBuffer sets SO_SNDBUF on an accepted connection and logs the
// effective value read back (Linux doubles what is asked, within limits).
func setSendBuffer(c net.Conn, asked int) {
	local, remote := str(c.LocalAddr().String()), str(c.RemoteAddr().String())
	tcp, ok := c.(*net.TCPConn)
	if !ok {
		emit(event{Event: "accept", Local: local, Remote: remote, Detail: str("not a TCP connection: SO_SNDBUF not set")})
		return
	}
	if err := tcp.SetWriteBuffer(asked); err != nil {
		emit(event{Event: "accept", Local: local, Remote: remote, Error: str(err.Error()), Errno: errnoOf(err),
			Detail: str("setsockopt SO_SNDBUF failed")})
		return
	}
	effective, readErr := -1, error(nil)
	if raw, err := tcp.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			effective, readErr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		})
	} else {
		readErr = err
	}
	detail := "SO_SNDBUF=" + strconv.Itoa(effective) + " (asked " + strconv.Itoa(asked) + ")"
	if readErr != nil {
		detail = "SO_SNDBUF set (asked " + strconv.Itoa(asked) + "), read back failed: " + readErr.Error()
	}
	emit(event{Event: "accept", Local: local, Remote: remote, Detail: str(detail)})
}

// serveProxy: a plain httputil.ReverseProxy in front of the upstream URL, as a
// Go service often sits in front of another. It writes no app.jsonl lines:
// its own log (ReverseProxy's "http: proxy error" lines) goes to stderr.
func serveProxy(addr, upstream string) {
	target, err := url.Parse(upstream)
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe(addr, httputil.NewSingleHostReverseProxy(target)))
}
