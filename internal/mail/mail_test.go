package mail_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/the-shop/shop/internal/mail"
	"github.com/the-shop/shop/internal/testenv"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestOutbox(t *testing.T) {
	db := testenv.MustDatabase(t)
	mp := testenv.MustMailpit(t)
	ctx := context.Background()
	outbox := mail.NewOutbox(db)
	cfg := mail.SenderConfig{URL: mp.SMTPURL, From: "The Shop <shop@example.com>", RetryBase: 50 * time.Millisecond, Timeout: 2 * time.Second}

	t.Run("SendsAQueuedMail", func(t *testing.T) {
		s, err := mail.NewSender(outbox, cfg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		to := testenv.RandomName("a") + "@example.com"
		if err := outbox.Enqueue(ctx, mail.Message{Kind: "test", To: to, Subject: "Hello", Body: "Follow http://localhost/x?token=abc"}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.SendDue(ctx); err != nil || n != 1 {
			t.Fatalf("SendDue = %d, %v; want 1, nil", n, err)
		}
		got := mp.WaitMail(t, to, "Hello", 1, 5*time.Second)
		if got.From != "shop@example.com" || got.Link("/x") != "http://localhost/x?token=abc" {
			t.Errorf("mail = %+v", got)
		}
		if n, _ := outbox.Pending(ctx); n != 0 {
			t.Errorf("%d mails pending after sending, want 0 (a sent mail's row goes)", n)
		}
	})

	t.Run("RetriesWhileTheServerIsDownAndSendsWhenItIsBack", func(t *testing.T) {
		s, err := mail.NewSender(outbox, cfg, quiet)
		if err != nil {
			t.Fatal(err)
		}
		mp.Stop()
		to := testenv.RandomName("down") + "@example.com"
		start := time.Now()
		if err := outbox.Enqueue(ctx, mail.Message{Kind: "test", To: to, Subject: "While down", Body: "x"}); err != nil {
			t.Fatalf("queueing with the mail server down: %v", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("queueing took %s with the mail server down", d)
		}
		if n, err := s.SendDue(ctx); n != 0 || err != nil {
			t.Fatalf("SendDue with the server down = %d, %v; want 0 sent and no error (the failure is recorded)", n, err)
		}
		var attempts int
		var lastErr string
		if err := db.QueryRow(ctx, `SELECT attempts, last_error FROM mail_outbox WHERE to_addr = $1`, to).Scan(&attempts, &lastErr); err != nil {
			t.Fatal(err)
		}
		if attempts != 1 || lastErr == "" {
			t.Errorf("after one failed try: attempts %d, last_error %q", attempts, lastErr)
		}
		// Not due again before its backoff: an immediate pass sends nothing.
		if n, _ := s.SendDue(ctx); n != 0 {
			t.Errorf("sent %d before the backoff ended", n)
		}
		mp.Start()
		deadline := time.Now().Add(10 * time.Second)
		for sent := 0; sent == 0; {
			if time.Now().After(deadline) {
				t.Fatal("the mail was not sent within 10s of the server coming back")
			}
			time.Sleep(50 * time.Millisecond)
			sent, _ = s.SendDue(ctx)
		}
		mp.WaitMail(t, to, "While down", 1, 5*time.Second)
	})

	t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) {
		bad := cfg
		bad.URL = "smtp://127.0.0.1:1?tls=none" // nothing listens on port 1
		bad.MaxAttempts = 2
		bad.RetryBase = time.Millisecond
		s, err := mail.NewSender(outbox, bad, quiet)
		if err != nil {
			t.Fatal(err)
		}
		to := testenv.RandomName("never") + "@example.com"
		if err := outbox.Enqueue(ctx, mail.Message{Kind: "test", To: to, Subject: "Never", Body: "x"}); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			time.Sleep(20 * time.Millisecond)
			if _, err := s.SendDue(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var failed bool
		if err := db.QueryRow(ctx, `SELECT failed_at IS NOT NULL FROM mail_outbox WHERE to_addr = $1`, to).Scan(&failed); err != nil || !failed {
			t.Fatalf("failed_at set: %v, %v; want true", failed, err)
		}
		if _, err := db.Exec(ctx, `DELETE FROM mail_outbox WHERE to_addr = $1`, to); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("TwoSendersSendEachMailOnce", func(t *testing.T) {
		to := testenv.RandomName("many") + "@example.com"
		const n = 12
		for i := range n {
			if err := outbox.Enqueue(ctx, mail.Message{Kind: "test", To: to, Subject: fmt.Sprintf("Mail %02d", i), Body: "x"}); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 2 {
			s, err := mail.NewSender(outbox, cfg, quiet)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				k, err := s.SendDue(ctx)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += k
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != n {
			t.Errorf("the senders sent %d mails, want %d", total, n)
		}
		mp.WaitMail(t, to, "Mail", n, 10*time.Second)
		if got := len(mp.Messages(t, to)); got != n {
			t.Errorf("Mailpit holds %d mails, want %d (each once)", got, n)
		}
	})

	t.Run("RefusesABadURL", func(t *testing.T) {
		for _, u := range []string{"http://x:25", "smtp://", "smtp://h:25?tls=maybe", "smtp://h:port"} {
			if _, err := mail.NewSender(outbox, mail.SenderConfig{URL: u, From: "a@b.c"}, quiet); err == nil {
				t.Errorf("NewSender(%q) accepted it", u)
			}
		}
	})
}
