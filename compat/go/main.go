// The compat scenario (see compat/run.ts) with github.com/philippseith/signalr over os.Args[1]
// transport and os.Args[2] protocol.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/philippseith/signalr"
)

type state struct {
	mu       sync.Mutex
	received map[string]map[string]interface{}
	reads    []map[string]interface{}
}

// receiver methods are matched to invocation targets case-insensitively.
type receiver struct {
	signalr.Receiver
	s *state
}

func (r *receiver) Compatnote(n map[string]interface{}) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	if id, ok := n["id"].(string); ok {
		r.s.received[id] = n
	}
}

func (r *receiver) EventReadStatusChange(e map[string]interface{}) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.reads = append(r.s.reads, e)
}

func (s *state) waitFor(pred func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		ok := pred()
		s.mu.Unlock()
		if ok {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

func main() {
	transport, protocol := os.Args[1], os.Args[2]
	env := os.Getenv
	ids := map[string]string{"replay": env("COMPAT_REPLAY_ID"), "global": env("COMPAT_GLOBAL_ID"), "user": env("COMPAT_USER_ID"), "group": env("COMPAT_GROUP_ID")}
	result := map[string]interface{}{}
	check := func(name string, ok bool, why string) {
		if ok {
			result[name] = true
		} else {
			result[name] = why
		}
	}
	defer func() {
		out, _ := json.Marshal(result)
		fmt.Printf("RESULT %s\n", out)
	}()

	s := &state{received: map[string]map[string]interface{}{}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	token := env("COMPAT_TOKEN")
	// The token also goes in the query: this client's SSE POSTs carry no headers of their own.
	address := env("COMPAT_HUB_URL") + "?access_token=" + url.QueryEscape(token)
	headers := func() http.Header {
		h := http.Header{}
		h.Set("Authorization", "Bearer "+token)
		return h
	}
	transportType := signalr.TransportWebSockets
	if transport == "ServerSentEvents" {
		transportType = signalr.TransportServerSentEvents
	}
	format := signalr.TransferFormatType("Text")
	if protocol == "messagepack" {
		format = "Binary"
	}
	conn, err := signalr.NewHTTPConnection(ctx, address, signalr.WithHTTPHeaders(headers), signalr.WithTransports(transportType))
	if err != nil {
		check("connect", false, err.Error())
		return
	}
	client, err := signalr.NewClient(ctx, signalr.WithConnection(conn), signalr.WithReceiver(&receiver{s: s}), signalr.TransferFormat(format))
	if err != nil {
		check("connect", false, err.Error())
		return
	}
	client.Start()
	defer client.Stop()
	waitCtx, waitCancel := context.WithTimeout(ctx, 10*time.Second)
	defer waitCancel()
	if err := <-client.WaitForState(waitCtx, signalr.ClientConnected); err != nil {
		check("connect", false, err.Error())
		return
	}
	check("connect", true, "")
	waitIds := func(names []string, d time.Duration) {
		s.waitFor(func() bool {
			for _, n := range names {
				if _, ok := s.received[ids[n]]; !ok {
					return false
				}
			}
			return true
		}, d)
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, n := range names {
			_, ok := s.received[ids[n]]
			check(n, ok, "not seen")
		}
	}
	invoke := func(method string, args ...interface{}) error {
		select {
		case r := <-client.Invoke(method, args...):
			return r.Error
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s: no completion", method)
		}
	}
	waitIds([]string{"replay"}, 5*time.Second)
	if err := invoke("Subscribe", map[string]interface{}{"audienceType": 3, "audienceValue": env("COMPAT_GROUP")}); err != nil {
		check("subscribe", false, err.Error())
	} else {
		check("subscribe", true, "")
	}
	err = invoke("Subscribe", map[string]interface{}{"audienceType": 2, "audienceValue": env("COMPAT_FOREIGN_TENANT")})
	check("forbidden", err != nil && strings.Contains(err.Error(), "HubException: Forbidden"), fmt.Sprintf("completion error %v", err))
	fmt.Println("READY")
	waitIds([]string{"global", "user", "group"}, 10*time.Second)
	s.mu.Lock()
	user, ok := s.received[ids["user"]]
	s.mu.Unlock()
	if ok {
		err := invoke("MarkAsRead", user["audienceId"], user["id"])
		seen := s.waitFor(func() bool {
			for _, e := range s.reads {
				if e["eventId"] == user["id"] && e["isRead"] == true {
					return true
				}
			}
			return false
		}, 5*time.Second)
		check("markAsRead", err == nil && seen, fmt.Sprintf("error %v, EventReadStatusChange seen: %v", err, seen))
	}
}
