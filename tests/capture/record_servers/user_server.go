// A user's own Go server (not one of the harness's): the seed's program. The handler sleeps,
// then writes 8061 bytes; a failed write is logged with the standard log package.
package main

import (
	"log"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	addr := os.Args[1]
	delay := 1 * time.Second
	if len(os.Args) > 2 { // the overhead benchmark answers at once
		delay, _ = time.ParseDuration(os.Args[2])
	}
	body := []byte(strings.Repeat("x", 8061))
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if _, err := w.Write(body); err != nil {
			log.Println(err)
		}
	})
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.Fatal(http.ListenAndServe(addr, nil))
}
