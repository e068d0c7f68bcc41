package handlers

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/the-shop/shop/internal/mail"
	"github.com/the-shop/shop/views"
)

// Mail kinds: the names of views/mail/*.txt and of the outbox's kind column.
const (
	mailPasswordReset = "password_reset"
	mailVerifyEmail   = "verify_email"
	mailNewDevice     = "new_device"
)

// mailer renders the shop's mails from views/mail and queues them in the
// outbox; queueing is one INSERT, so no request waits for the mail server.
type mailer struct {
	outbox *mail.Outbox
	// publicURL starts every link in a mail (PUBLIC_URL): never the
	// request's Host header, which a client chooses (a reset link that
	// points to an attacker's host is the classic "reset poisoning").
	publicURL string
	templates map[string]*template.Template
	logger    *slog.Logger
}

func newMailer(outbox *mail.Outbox, publicURL string, logger *slog.Logger) (*mailer, error) {
	m := &mailer{outbox: outbox, publicURL: strings.TrimRight(publicURL, "/"), templates: map[string]*template.Template{}, logger: logger}
	for _, name := range []string{mailPasswordReset, mailVerifyEmail, mailNewDevice} {
		t, err := template.New(name).Option("missingkey=error").ParseFS(views.MailFS, "mail/"+name+".txt")
		if err != nil {
			return nil, fmt.Errorf("parse mail %s: %w", name, err)
		}
		m.templates[name] = t
	}
	return m, nil
}

// link is an absolute URL of the shop for a mail: path with query.
func (m *mailer) link(path string, query url.Values) string {
	u := m.publicURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	return u
}

// mailData is what a mail template reads.
type mailData struct {
	Email  string
	Link   string
	Device string
	Time   string
	IP     string
}

// send renders the mail kind for to and queues it.
func (m *mailer) send(ctx context.Context, kind, to string, d mailData) error {
	t := m.templates[kind]
	var subject, body bytes.Buffer
	if err := t.ExecuteTemplate(&subject, "subject", d); err != nil {
		return fmt.Errorf("render mail %s: %w", kind, err)
	}
	if err := t.ExecuteTemplate(&body, "body", d); err != nil {
		return fmt.Errorf("render mail %s: %w", kind, err)
	}
	return m.outbox.Enqueue(ctx, mail.Message{Kind: kind, To: to, Subject: subject.String(), Body: body.String()})
}

// sendLater queues a mail whose failure must not fail the request it
// comes from (the account was made, the login happened): the failure is
// logged, without the address.
func (m *mailer) sendLater(ctx context.Context, kind, to string, d mailData) {
	if err := m.send(context.WithoutCancel(ctx), kind, to, d); err != nil {
		m.logger.ErrorContext(ctx, "queue mail", "kind", kind, "err", err)
	}
}

// mailTime is how a mail shows a moment: UTC, spelled out.
func mailTime(t time.Time) string { return t.UTC().Format("Monday 2 January 2006, 15:04 UTC") }
