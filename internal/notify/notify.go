// Package notify sends notifications to the services that shoutrrr URLs
// name (Slack, Discord, Telegram, email, ntfy, generic webhooks, ...).
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
)

// Timeout bounds each service's delivery: a notification never holds up
// the next backup for long.
const Timeout = 20 * time.Second

// Message is one notification.
type Message struct {
	Title string
	Body  string
}

// Sender delivers messages to every URL it was made with.
type Sender struct {
	router *router.ServiceRouter
	urls   []string
}

// New checks every URL (scheme and settings) and returns their sender.
// Errors never quote a URL: they carry tokens and passwords.
func New(urls []string) (*Sender, error) {
	r, err := router.New(nil)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	r.Timeout = Timeout
	var kept []string
	for i, u := range urls {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if err := r.AddService(u); err != nil {
			return nil, fmt.Errorf("notification URL %d (%s): %s: check it against the service's URL format in shoutrrr's documentation", i+1, redact(u), scrub(err.Error(), u))
		}
		kept = append(kept, u)
	}
	return &Sender{router: r, urls: kept}, nil
}

// Len is how many services messages go to.
func (s *Sender) Len() int { return len(s.urls) }

// Send delivers m to every service, side by side; the error joins the
// failures, without their URLs.
func (s *Sender) Send(ctx context.Context, m Message) error {
	if s == nil || len(s.urls) == 0 {
		return nil
	}
	params := types.Params{}
	if m.Title != "" {
		params.SetTitle(m.Title)
	}
	done := make(chan []error, 1)
	go func() { done <- s.router.Send(m.Body, &params) }()
	var errs []error
	select {
	case <-ctx.Done():
		return ctx.Err()
	case res := <-done:
		for i, err := range res {
			if err == nil {
				continue
			}
			u := ""
			if i < len(s.urls) {
				u = s.urls[i]
			}
			errs = append(errs, fmt.Errorf("%s: %s", redact(u), scrub(err.Error(), u)))
		}
	}
	return errors.Join(errs...)
}

// redact keeps what names the service: its scheme and host.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "a URL that does not parse"
	}
	if u.Host == "" {
		return u.Scheme + "://…"
	}
	return u.Scheme + "://" + u.Hostname() + "/…"
}

// scrub takes the URL, and the parts of it that carry secrets, out of a
// message from shoutrrr, which quotes them.
func scrub(msg, raw string) string {
	if raw == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, raw, redact(raw))
	if u, err := url.Parse(raw); err == nil {
		secrets := []string{u.RawQuery, u.Path, u.Fragment}
		if u.User != nil {
			secrets = append(secrets, u.User.String(), u.User.Username())
			if p, ok := u.User.Password(); ok {
				secrets = append(secrets, p)
			}
		}
		for _, s := range secrets {
			if len(s) >= 4 {
				msg = strings.ReplaceAll(msg, s, "…")
			}
		}
	}
	return msg
}
