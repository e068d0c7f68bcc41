// Package mail sends the shop's mails through a durable outbox: a request
// only inserts a row into PostgreSQL (Outbox.Enqueue), and a Sender on each
// replica hands due rows to the SMTP server (SMTP_URL) with
// github.com/wneessen/go-mail, retrying with backoff. A slow or down mail
// server therefore never fails or slows a request, and a mail queued on
// one replica is sent by whichever replica gets to it first: a row is
// claimed with SELECT ... FOR UPDATE SKIP LOCKED, so two replicas never
// send the same row at once.
//
// Delivery is at least once: a replica that dies after the SMTP server
// took a mail but before its row is deleted leaves it to be sent again.
// Every mail carries a Message-ID derived from its row, so a mail client
// can tell the copy.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	gomail "github.com/wneessen/go-mail"

	"github.com/the-shop/shop/internal/platform/postgres"
)

// Message is one mail to one recipient, plain text.
type Message struct {
	// Kind names what the mail is for ("password_reset", "verify_email",
	// "new_device"); it goes into the logs, never the address or body.
	Kind    string
	To      string
	Subject string
	Body    string
}

// Outbox queues mails in PostgreSQL.
type Outbox struct {
	db *pgxpool.Pool
	// wake tells this replica's sender that a mail is waiting, so it goes
	// out at once rather than at the next poll; nil when no sender runs.
	wake chan struct{}
}

// NewOutbox returns the outbox in db.
func NewOutbox(db *pgxpool.Pool) *Outbox {
	return &Outbox{db: db, wake: make(chan struct{}, 1)}
}

// Enqueue stores m for sending: one INSERT, whatever the state of the mail
// server.
func (o *Outbox) Enqueue(ctx context.Context, m Message) error {
	_, err := o.db.Exec(ctx, `INSERT INTO mail_outbox (kind, to_addr, subject, body) VALUES ($1, $2, $3, $4)`,
		m.Kind, m.To, m.Subject, m.Body)
	if err != nil {
		return postgres.Error("queue "+m.Kind+" mail", err, nil)
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pending counts the mails not sent yet (failed ones excluded).
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	err := o.db.QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE failed_at IS NULL`).Scan(&n)
	return n, postgres.Error("count queued mails", err, nil)
}

// DeleteFailed removes, in batches of at most limit, mails that failed for
// good more than a week ago (the cleanup job calls it).
func (o *Outbox) DeleteFailed(ctx context.Context, limit int) (int64, error) {
	tag, err := o.db.Exec(ctx, `DELETE FROM mail_outbox WHERE id IN (
		SELECT id FROM mail_outbox WHERE failed_at < now() - interval '7 days' LIMIT $1)`, limit)
	if err != nil {
		return 0, postgres.Error("delete failed mails", err, nil)
	}
	return tag.RowsAffected(), nil
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	// URL is the SMTP server: smtp://[user:password@]host:port, with
	// ?tls=none|opportunistic|mandatory (default opportunistic), or
	// smtps://host:port for TLS from the first byte.
	URL string
	// From is the sender address of every mail.
	From string
	// Poll is how often the sender looks for due mails queued by other
	// replicas or waiting for a retry.
	Poll time.Duration
	// MaxAttempts is how many times a mail is tried before it is given up.
	MaxAttempts int
	// RetryBase is the wait after the first failure; each further failure
	// doubles it, up to RetryMax.
	RetryBase, RetryMax time.Duration
	// Timeout bounds one SMTP conversation.
	Timeout time.Duration
}

// Sender sends what an Outbox holds.
type Sender struct {
	outbox *Outbox
	cfg    SenderConfig
	opts   []gomail.Option
	host   string
	logger *slog.Logger
	// Sent, when set, is told of every mail handed to the server
	// (metrics, tests).
	Sent func(kind string)
}

// NewSender checks cfg and returns a sender for o.
func NewSender(o *Outbox, cfg SenderConfig, logger *slog.Logger) (*Sender, error) {
	host, opts, err := smtpOptions(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 12
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 10 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	opts = append(opts, gomail.WithTimeout(cfg.Timeout))
	return &Sender{outbox: o, cfg: cfg, opts: opts, host: host, logger: logger}, nil
}

// smtpOptions turns an SMTP URL into go-mail's host and options.
func smtpOptions(raw string) (string, []gomail.Option, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" || (u.Scheme != "smtp" && u.Scheme != "smtps") {
		return "", nil, fmt.Errorf("SMTP URL %q: want smtp://host:port or smtps://host:port", redact(raw))
	}
	var opts []gomail.Option
	port := 25
	if u.Scheme == "smtps" {
		port = 465
		opts = append(opts, gomail.WithSSL())
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return "", nil, fmt.Errorf("SMTP URL %q: bad port", redact(raw))
		}
	}
	opts = append(opts, gomail.WithPort(port))
	if u.Scheme == "smtp" {
		switch u.Query().Get("tls") {
		case "", "opportunistic":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		case "none":
			opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		case "mandatory":
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		default:
			return "", nil, fmt.Errorf("SMTP URL %q: tls is none, opportunistic or mandatory", redact(raw))
		}
	}
	if u.User != nil {
		pw, _ := u.User.Password()
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(u.User.Username()), gomail.WithPassword(pw))
	}
	return u.Hostname(), opts, nil
}

// redact hides the password of an SMTP URL.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// Run sends due mails until ctx ends: at once when this replica queued
// one, else every Poll.
func (s *Sender) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		if _, err := s.SendDue(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("mail outbox", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.outbox.wake:
		}
	}
}

// SendDue sends every mail that is due, one claimed row at a time, and
// returns how many went out.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		sent, found, err := s.sendOne(ctx)
		if err != nil || !found {
			return n, err
		}
		if sent {
			n++
		}
	}
	return n, nil
}

// sendOne claims the oldest due mail that no other replica holds, tries
// it, and records the outcome in the same transaction: the row lock is
// what keeps another replica from sending it meanwhile (SKIP LOCKED lets
// that replica take the next one instead of waiting). found is false when
// nothing is due.
func (s *Sender) sendOne(ctx context.Context) (sent, found bool, err error) {
	tx, err := s.outbox.db.Begin(ctx)
	if err != nil {
		return false, false, postgres.Error("claim a mail", err, nil)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var id int64
	var attempts int
	var m Message
	err = tx.QueryRow(ctx, `SELECT id, kind, to_addr, subject, body, attempts FROM mail_outbox
		WHERE failed_at IS NULL AND next_attempt_at <= now()
		ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`).
		Scan(&id, &m.Kind, &m.To, &m.Subject, &m.Body, &attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, postgres.Error("claim a mail", err, nil)
	}
	if sendErr := s.deliver(ctx, id, m); sendErr != nil {
		attempts++
		if attempts >= s.cfg.MaxAttempts {
			_, err = tx.Exec(ctx, `UPDATE mail_outbox SET attempts = $2, last_error = $3, failed_at = now() WHERE id = $1`,
				id, attempts, sendErr.Error())
			s.logger.Error("mail given up", "kind", m.Kind, "id", id, "attempts", attempts, "err", sendErr)
		} else {
			wait := s.backoff(attempts)
			_, err = tx.Exec(ctx, `UPDATE mail_outbox SET attempts = $2, last_error = $3,
				next_attempt_at = now() + make_interval(secs => $4) WHERE id = $1`,
				id, attempts, sendErr.Error(), wait.Seconds())
			s.logger.Warn("mail not sent, will retry", "kind", m.Kind, "id", id, "attempts", attempts, "retry_in", wait, "err", sendErr)
		}
		if err != nil {
			return false, true, postgres.Error("record a mail failure", err, nil)
		}
		return false, true, postgres.Error("record a mail failure", tx.Commit(ctx), nil)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM mail_outbox WHERE id = $1`, id); err != nil {
		return true, true, postgres.Error("record a sent mail", err, nil)
	}
	if err := tx.Commit(ctx); err != nil {
		return true, true, postgres.Error("record a sent mail", err, nil)
	}
	s.logger.Info("mail sent", "kind", m.Kind, "id", id)
	if s.Sent != nil {
		s.Sent(m.Kind)
	}
	return true, true, nil
}

// backoff is the wait before attempt n+1: RetryBase doubled per failure,
// capped at RetryMax, with up to 20 % jitter so that replicas retrying
// many mails do not fall into step.
func (s *Sender) backoff(failures int) time.Duration {
	d := s.cfg.RetryBase << min(failures-1, 30)
	if d <= 0 || d > s.cfg.RetryMax {
		d = s.cfg.RetryMax
	}
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}

// deliver hands one mail to the SMTP server.
func (s *Sender) deliver(ctx context.Context, id int64, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(s.cfg.From); err != nil {
		return fmt.Errorf("from address: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("to address: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	msg.SetMessageIDWithValue(fmt.Sprintf("outbox-%d.%s@the-shop", id, m.Kind))
	msg.SetBodyString(gomail.TypeTextPlain, m.Body)
	c, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	return c.DialAndSendWithContext(ctx, msg)
}
