package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSendToAGenericWebhook(t *testing.T) {
	got := make(chan map[string]string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/hooks/s3cr3t-token" {
			http.NotFound(w, r)
			return
		}
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("body %q: %v", b, err)
		}
		got <- body
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	s, err := New([]string{"generic+http://" + host + "/hooks/s3cr3t-token?template=json"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), Message{Title: "backup of shop failed", Body: "Error: disk full"}); err != nil {
		t.Fatal(err)
	}
	body := <-got
	if body["title"] != "backup of shop failed" || body["message"] != "Error: disk full" {
		t.Errorf("payload %v", body)
	}

	// A service that refuses: an error that names the host, not the token.
	s, err = New([]string{"generic+http://" + host + "/hooks/wrong-s3cr3t?template=json"})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Send(context.Background(), Message{Title: "t", Body: "b"})
	if err == nil {
		t.Fatal("a refused notification reported no error")
	}
	if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("error %q shows the URL's secret or hides the host", err)
	}
}

func TestNewRefusesBadURLsWithoutShowingThem(t *testing.T) {
	for _, u := range []string{"nosuch://user:pa55word@host/x", "slack://"} {
		_, err := New([]string{u})
		if err == nil {
			t.Errorf("%s accepted", u)
			continue
		}
		if strings.Contains(err.Error(), "pa55word") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	s, err := New([]string{"", "  "})
	if err != nil || s.Len() != 0 {
		t.Errorf("empty URLs: %v %d", err, s.Len())
	}
}
