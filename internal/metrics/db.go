package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// DBTracer returns a pgx tracer that counts and times every statement under
// a name made from the SQL ("select products", "insert cart_items"). The
// shop's statements are constants in its code, so the names are a small,
// fixed set; past maxQueryNames distinct names the rest count as "other".
func (m *Metrics) DBTracer() pgx.QueryTracer {
	return &dbTracer{m: m, names: map[string]string{}}
}

const maxQueryNames = 128

type dbTracer struct {
	m     *Metrics
	mu    sync.RWMutex
	names map[string]string // SQL → name
	seen  int               // distinct names handed out
	set   map[string]bool
}

var _ pgx.QueryTracer = (*dbTracer)(nil)

type queryStart struct {
	name  string
	start time.Time
}

type queryStartKey struct{}

// TraceQueryStart implements pgx.QueryTracer.
func (t *dbTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, queryStartKey{}, queryStart{name: t.name(d.SQL), start: time.Now()})
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *dbTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	q, ok := ctx.Value(queryStartKey{}).(queryStart)
	if !ok {
		return
	}
	t.m.dbQueries.WithLabelValues(q.name).Inc()
	t.m.dbDuration.WithLabelValues(q.name).Observe(time.Since(q.start).Seconds())
	if d.Err != nil && d.Err != pgx.ErrNoRows {
		t.m.dbErrors.WithLabelValues(q.name).Inc()
	}
}

func (t *dbTracer) name(sql string) string {
	t.mu.RLock()
	n, ok := t.names[sql]
	t.mu.RUnlock()
	if ok {
		return n
	}
	n = QueryName(sql)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.set == nil {
		t.set = map[string]bool{}
	}
	if !t.set[n] {
		if t.seen >= maxQueryNames {
			n = "other"
		} else {
			t.set[n] = true
			t.seen++
		}
	}
	if len(t.names) < 4*maxQueryNames {
		t.names[sql] = n
	}
	return n
}

// QueryName names a statement by its kind and main table: the statement
// after a WITH clause's common table expressions, the table after INTO,
// UPDATE or the first FROM. "WITH c AS (INSERT INTO carts ...) INSERT INTO
// cart_items ..." is "insert cart_items".
func QueryName(sql string) string {
	s := strings.ToLower(sql)
	words := sqlWords(s)
	if len(words) == 0 {
		return "empty"
	}
	if words[0].w == "with" {
		// The main statement is the first depth-0 keyword after a closing
		// parenthesis at depth 0.
		for _, w := range words[1:] {
			if w.depth == 0 && w.afterClose && isVerb(w.w) {
				words = words[w.index:]
				break
			}
		}
	}
	verb := words[0].w
	table := ""
	switch verb {
	case "insert":
		table = wordAfter(words, "into")
	case "update":
		if len(words) > 1 {
			table = words[1].w
		}
	case "delete", "select":
		table = wordAfter(words, "from")
	}
	if table == "" {
		return verb
	}
	return verb + " " + table
}

func isVerb(w string) bool {
	return w == "select" || w == "insert" || w == "update" || w == "delete"
}

func wordAfter(words []sqlWord, kw string) string {
	for i, w := range words {
		if w.w == kw && i+1 < len(words) && w.depth == words[0].depth {
			return words[i+1].w
		}
	}
	return ""
}

type sqlWord struct {
	w          string
	depth      int
	afterClose bool // a ')' closed back to depth 0 before this word
	index      int
}

// sqlWords splits SQL into identifier-like words with their parenthesis
// depth; literals and punctuation are skipped.
func sqlWords(s string) []sqlWord {
	var out []sqlWord
	depth, closed := 0, false
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '(':
			depth++
			i++
		case c == ')':
			depth--
			if depth == 0 {
				closed = true
			}
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return out
			}
			i += j + 2
		case c == '_' || c >= 'a' && c <= 'z':
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '.' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, sqlWord{w: s[i:j], depth: depth, afterClose: closed, index: len(out)})
			i = j
		default:
			i++
		}
	}
	return out
}
