// Package deploy_test checks the Docker packaging (compose.yaml, Dockerfile,
// deploy/docker/nginx.conf) without Docker: it loads compose.yaml with the
// Compose Specification's own Go loader, reads the Dockerfile and the nginx
// config as text, and checks that they agree with each other and with the
// variables the shop binary reads. What it cannot see is whether the images
// build and the containers start; that needs `docker compose up`.
package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/the-shop/shop/internal/config"
)

var (
	replicas = []string{"shop-1", "shop-2", "shop-3"}
	// Every service compose.yaml defines, no more, no fewer.
	allServices = []string{"migrate", "nginx", "postgres", "redis", "shop-1", "shop-2", "shop-3"}
)

const (
	// The image the migrate job and the replicas share.
	shopImage = "the-shop:local"
	// nginx's config inside its container and the file it comes from.
	nginxConfTarget = "/etc/nginx/nginx.conf"
)

// root is the repository root: go test runs in the package directory.
func root(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatalf("repository root %s has no go.mod: %v", dir, err)
	}
	return dir
}

// loadProject loads compose.yaml as `docker compose` would, with env as the
// only variables available for interpolation (not the test's own
// environment, so that a SESSION_STORE set in the shell changes nothing).
func loadProject(t *testing.T, env ...string) *types.Project {
	t.Helper()
	dir := root(t)
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(env),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("load compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("compose.yaml has no service %q", name)
	}
	return s
}

// env returns a service's environment variable, failing when it is unset.
func env(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := s.Environment[name]
	if !ok || v == nil {
		t.Fatalf("%s: environment has no %s", s.Name, name)
	}
	return *v
}

func hostOf(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("parse %q: %v", rawURL, err)
	}
	return u.Hostname()
}

// addrPort is the port of a listen address like ":8080".
func addrPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("ADDR %q: %v", addr, err)
	}
	return port
}

func healthcheckCmd(s types.ServiceConfig) string {
	if s.HealthCheck == nil || s.HealthCheck.Disable {
		return ""
	}
	return strings.Join(s.HealthCheck.Test, " ")
}

func TestComposeTopology(t *testing.T) {
	p := loadProject(t)

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"defines exactly the shop's services", func(t *testing.T) {
			got := p.ServiceNames()
			slices.Sort(got)
			if !slices.Equal(got, allServices) {
				t.Errorf("services = %v, want %v", got, allServices)
			}
		}},
		{"migrate sets only variables the shop reads", func(t *testing.T) {
			for _, k := range unknownVars(service(t, p, "migrate")) {
				t.Errorf("%s is not a variable the shop reads (config.Vars): a typo, or a setting that does nothing", k)
			}
		}},
		{"postgres, redis and nginx have healthchecks", func(t *testing.T) {
			for _, name := range []string{"postgres", "redis", "nginx"} {
				if healthcheckCmd(service(t, p, name)) == "" {
					t.Errorf("%s has no healthcheck", name)
				}
			}
		}},
		{"postgres keeps its data in a declared named volume", func(t *testing.T) {
			s := service(t, p, "postgres")
			var found bool
			for _, v := range s.Volumes {
				if v.Target != "/var/lib/postgresql/data" {
					continue
				}
				found = true
				if v.Type != types.VolumeTypeVolume {
					t.Errorf("postgres data is a %s mount, want a named volume", v.Type)
				}
				if _, ok := p.Volumes[v.Source]; !ok {
					t.Errorf("postgres volume %q is not declared under volumes:", v.Source)
				}
			}
			if !found {
				t.Error("postgres mounts nothing at /var/lib/postgresql/data: its data dies with the container")
			}
		}},
		{"postgres healthcheck checks the shop database as the shop user", func(t *testing.T) {
			s := service(t, p, "postgres")
			hc := healthcheckCmd(s)
			if !strings.Contains(hc, "pg_isready") || !strings.Contains(hc, "-U shop") || !strings.Contains(hc, "-d shop") {
				t.Errorf("healthcheck = %q, want pg_isready -U shop -d shop", hc)
			}
			for k, want := range map[string]string{"POSTGRES_USER": "shop", "POSTGRES_DB": "shop"} {
				if got := env(t, s, k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		}},
		{"redis answers ping", func(t *testing.T) {
			if hc := healthcheckCmd(service(t, p, "redis")); !strings.Contains(hc, "redis-cli ping") {
				t.Errorf("redis healthcheck = %q, want redis-cli ping", hc)
			}
		}},
		{"redis keeps sessions and carts in an append-only file on a named volume", func(t *testing.T) {
			s := service(t, p, "redis")
			cmd := []string(s.Command)
			if len(cmd) != 2 || cmd[0] != "redis-server" {
				t.Fatalf("redis command = %q, want [redis-server CONFIG]", cmd)
			}
			var conf, data bool
			for _, v := range s.Volumes {
				switch v.Target {
				case cmd[1]:
					conf = true
					if want := filepath.Join(root(t), "deploy", "redis", "redis.conf"); v.Type != types.VolumeTypeBind || v.Source != want || !v.ReadOnly {
						t.Errorf("%s is a %s mount of %s (read-only %v), want a read-only bind of %s", v.Target, v.Type, v.Source, v.ReadOnly, want)
					}
				case "/data":
					data = true
					if _, ok := p.Volumes[v.Source]; v.Type != types.VolumeTypeVolume || !ok {
						t.Errorf("/data is a %s mount of %q, want a declared named volume", v.Type, v.Source)
					}
				}
			}
			if !conf {
				t.Errorf("nothing is mounted at %s, the config redis-server is given", cmd[1])
			}
			if !data {
				t.Error("redis mounts nothing at /data: its append-only file dies with the container")
			}
			got := redisDirectives(t, filepath.Join(root(t), "deploy", "redis", "redis.conf"))
			for k, want := range map[string]string{"appendonly": "yes", "appendfsync": "everysec"} {
				if got[k] != want {
					t.Errorf("deploy/redis/redis.conf: %s = %q, want %q", k, got[k], want)
				}
			}
		}},
		{"migrate runs migrate up once and is not restarted", func(t *testing.T) {
			s := service(t, p, "migrate")
			if got := []string(s.Command); !slices.Equal(got, []string{"migrate", "up"}) {
				t.Errorf("migrate command = %q, want [migrate up]", got)
			}
			if s.Restart != "no" {
				t.Errorf("migrate restart = %q, want \"no\"", s.Restart)
			}
			if d, ok := s.DependsOn["postgres"]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("migrate depends_on postgres = %+v, want condition service_healthy", d)
			}
			if got := hostOf(t, env(t, s, "DATABASE_URL")); got != "postgres" {
				t.Errorf("migrate DATABASE_URL host = %q, want postgres", got)
			}
		}},
		{"migrate and the replicas run one image built from ./Dockerfile", func(t *testing.T) {
			dir := root(t)
			for _, name := range append([]string{"migrate"}, replicas...) {
				s := service(t, p, name)
				if s.Image != shopImage {
					t.Errorf("%s image = %q, want %q", name, s.Image, shopImage)
				}
				if s.Build == nil {
					t.Errorf("%s has no build section: compose would try to pull %s", name, s.Image)
					continue
				}
				ctxDir := s.Build.Context
				if !filepath.IsAbs(ctxDir) {
					ctxDir = filepath.Join(dir, ctxDir)
				}
				if filepath.Clean(ctxDir) != dir {
					t.Errorf("%s build context = %q, want the repository root %q", name, ctxDir, dir)
				}
				if df := s.Build.Dockerfile; df != "Dockerfile" && filepath.Clean(df) != filepath.Join(dir, "Dockerfile") {
					t.Errorf("%s dockerfile = %q, want Dockerfile", name, df)
				}
			}
		}},
		{"nginx publishes 8080 and waits for every replica to be healthy", func(t *testing.T) {
			s := service(t, p, "nginx")
			if !publishes(s, "8080", 8080) {
				t.Errorf("nginx ports = %+v, want 8080 published to container port 8080", s.Ports)
			}
			for _, r := range replicas {
				if d, ok := s.DependsOn[r]; !ok || d.Condition != types.ServiceConditionHealthy {
					t.Errorf("nginx depends_on %s = %+v, want condition service_healthy", r, d)
				}
			}
		}},
		{"nginx healthcheck goes through nginx to /healthz", func(t *testing.T) {
			if hc := healthcheckCmd(service(t, p, "nginx")); !strings.Contains(hc, "127.0.0.1:8080/healthz") {
				t.Errorf("nginx healthcheck = %q, want a request to http://127.0.0.1:8080/healthz", hc)
			}
		}},
		{"nginx reads deploy/docker/nginx.conf read-only", func(t *testing.T) {
			src := nginxConfSource(t, p)
			if _, err := os.Stat(src); err != nil {
				t.Errorf("nginx config: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func publishes(s types.ServiceConfig, published string, target uint32) bool {
	for _, port := range s.Ports {
		if port.Published == published && port.Target == target {
			return true
		}
	}
	return false
}

// nginxConfSource is the host file compose mounts as nginx's nginx.conf.
func nginxConfSource(t *testing.T, p *types.Project) string {
	t.Helper()
	s := service(t, p, "nginx")
	for _, v := range s.Volumes {
		if v.Target != nginxConfTarget {
			continue
		}
		if v.Type != types.VolumeTypeBind {
			t.Fatalf("%s is a %s mount, want a bind mount of a file in the repository", nginxConfTarget, v.Type)
		}
		if !v.ReadOnly {
			t.Errorf("%s is mounted read-write, want read_only", nginxConfTarget)
		}
		src := v.Source
		if !filepath.IsAbs(src) {
			src = filepath.Join(p.WorkingDir, src)
		}
		return src
	}
	t.Fatalf("nginx mounts nothing at %s", nginxConfTarget)
	return ""
}

func TestComposeReplicas(t *testing.T) {
	p := loadProject(t)
	seenNames := map[string]string{}

	for _, name := range replicas {
		s := service(t, p, name)
		tests := []struct {
			name  string
			check func(t *testing.T)
		}{
			{"sets only variables the shop reads", func(t *testing.T) {
				for _, k := range unknownVars(s) {
					t.Errorf("%s is not a variable the shop reads (config.Vars): a typo, or a setting that does nothing", k)
				}
			}},
			{"has its own replica name", func(t *testing.T) {
				rn := env(t, s, "REPLICA_NAME")
				if rn != name {
					t.Errorf("REPLICA_NAME = %q, want the service name %q", rn, name)
				}
				if other, dup := seenNames[rn]; dup {
					t.Errorf("REPLICA_NAME %q is also used by %s", rn, other)
				}
				seenNames[rn] = name
			}},
			{"uses the compose postgres and redis", func(t *testing.T) {
				if got := hostOf(t, env(t, s, "DATABASE_URL")); got != "postgres" {
					t.Errorf("DATABASE_URL host = %q, want postgres", got)
				}
				if got := hostOf(t, env(t, s, "REDIS_URL")); got != "redis" {
					t.Errorf("REDIS_URL host = %q, want redis", got)
				}
			}},
			{"keeps sessions in redis by default", func(t *testing.T) {
				if got := env(t, s, "SESSION_STORE"); got != string(config.StoreRedis) {
					t.Errorf("SESSION_STORE = %q, want %q when unset", got, config.StoreRedis)
				}
			}},
			{"leaves migrations to the migrate service", func(t *testing.T) {
				if got := env(t, s, "MIGRATE_ON_START"); got != "false" {
					t.Errorf("MIGRATE_ON_START = %q, want false", got)
				}
			}},
			{"trusts forwarded headers from nginx on the compose network", func(t *testing.T) {
				// Docker gives compose networks private addresses; which
				// one nginx gets is not fixed.
				nets := parseCIDRs(t, env(t, s, "TRUSTED_PROXIES"))
				for _, addr := range []string{"172.18.0.5", "10.0.3.7", "192.168.16.2"} {
					if !containsIP(nets, net.ParseIP(addr)) {
						t.Errorf("TRUSTED_PROXIES does not cover %s, a typical compose network address", addr)
					}
				}
			}},
			{"starts after migrate succeeded and the stores are healthy", func(t *testing.T) {
				want := map[string]string{
					"migrate":  types.ServiceConditionCompletedSuccessfully,
					"postgres": types.ServiceConditionHealthy,
					"redis":    types.ServiceConditionHealthy,
				}
				for dep, cond := range want {
					if d, ok := s.DependsOn[dep]; !ok || d.Condition != cond {
						t.Errorf("depends_on %s = %+v, want condition %s", dep, d, cond)
					}
				}
			}},
			{"is healthy only when /readyz on its own port answers", func(t *testing.T) {
				hc := healthcheckCmd(s)
				want := "127.0.0.1:" + addrPort(t, env(t, s, "ADDR")) + "/readyz"
				if !strings.Contains(hc, want) {
					t.Errorf("healthcheck = %q, want a request to %s", hc, want)
				}
			}},
			{"restarts unless stopped", func(t *testing.T) {
				if s.Restart != types.RestartPolicyUnlessStopped {
					t.Errorf("restart = %q, want %s", s.Restart, types.RestartPolicyUnlessStopped)
				}
			}},
			{"is given longer to stop than it takes to drain", func(t *testing.T) {
				drain, err := time.ParseDuration(env(t, s, "SHUTDOWN_TIMEOUT"))
				if err != nil {
					t.Fatalf("SHUTDOWN_TIMEOUT: %v", err)
				}
				if s.StopGracePeriod == nil {
					t.Fatalf("no stop_grace_period: docker kills after 10s, SHUTDOWN_TIMEOUT is %s", drain)
				}
				if grace := time.Duration(*s.StopGracePeriod); grace <= drain {
					t.Errorf("stop_grace_period %s <= SHUTDOWN_TIMEOUT %s: docker would kill a draining replica", grace, drain)
				}
			}},
		}
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, tt.check)
		}
	}
}

// unknownVars lists the variables a service sets that the shop binary does
// not read, sorted.
func unknownVars(s types.ServiceConfig) []string {
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	var unknown []string
	for k := range s.Environment {
		if !known[k] {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	return unknown
}

func parseCIDRs(t *testing.T, list string) []*net.IPNet {
	t.Helper()
	var nets []*net.IPNet
	for c := range strings.SplitSeq(list, ",") {
		_, n, err := net.ParseCIDR(strings.TrimSpace(c))
		if err != nil {
			t.Fatalf("TRUSTED_PROXIES: %v", err)
		}
		nets = append(nets, n)
	}
	return nets
}

func containsIP(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// TestComposeSettings checks that the variables compose.yaml documents reach
// the services: the ones a user sets, and the defaults when unset.
func TestComposeSettings(t *testing.T) {
	tests := []struct {
		name         string
		env          []string
		sessionStore string
		hostPort     string
	}{
		{"defaults: redis sessions on port 8080", nil, "redis", "8080"},
		{"SESSION_STORE=postgres reaches every replica", []string{"SESSION_STORE=postgres"}, "postgres", "8080"},
		{"SESSION_STORE=memory reaches every replica", []string{"SESSION_STORE=memory"}, "memory", "8080"},
		{"PORT moves nginx's host port", []string{"PORT=9090"}, "redis", "9090"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadProject(t, tt.env...)
			for _, r := range replicas {
				if got := env(t, service(t, p, r), "SESSION_STORE"); got != tt.sessionStore {
					t.Errorf("%s SESSION_STORE = %q, want %q", r, got, tt.sessionStore)
				}
			}
			if s := service(t, p, "nginx"); !publishes(s, tt.hostPort, 8080) {
				t.Errorf("nginx ports = %+v, want host port %s to container port 8080", s.Ports, tt.hostPort)
			}
		})
	}
}

// nginxDirectives is nginx.conf without comments, one directive or block
// opening per entry, whitespace collapsed. Good enough for this file: no
// quoted semicolons or braces outside log_format strings.
func nginxDirectives(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return nginxDirectivesOf(t, string(b))
}

func nginxDirectivesOf(t *testing.T, conf string) []string {
	t.Helper()
	var text strings.Builder
	for line := range strings.Lines(conf) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i] + "\n"
		}
		text.WriteString(line)
	}
	var out []string
	for stmt := range strings.FieldsFuncSeq(text.String(), func(r rune) bool { return r == ';' || r == '{' || r == '}' }) {
		if f := strings.Join(strings.Fields(stmt), " "); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// localNginxConf is the nginx.conf `make up` runs with: three replicas, round
// robin, port 8080.
func localNginxConf(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed: cannot render deploy/nginx/nginx.conf.tmpl")
	}
	cmd := exec.Command("bash", filepath.Join(root(t), "scripts", "nginx-conf.sh"), "3", "rr", "8080")
	cmd.Env = append(os.Environ(), "SESSION_COOKIE_NAME=session", "REPLICA_BASE_PORT=9001")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/nginx-conf.sh 3 rr 8080: %v\n%s", err, stderr.String())
	}
	return string(out)
}

// proxyBehaviour keeps the directives that decide how nginx treats a
// request and its response, in a form comparable between the local template
// and the compose config: upstream server lines lose their address (and
// `resolve`, which only says how the address is found); directives that name
// the user, files, listeners or DNS, and maps, are left out.
func proxyBehaviour(directives []string) []string {
	skip := []string{
		"user ", "pid ", "error_log ", "access_log ", "worker_processes ", "listen ", "server_name ",
		"client_body_temp_path ", "proxy_temp_path ", "fastcgi_temp_path ", "uwsgi_temp_path ", "scgi_temp_path ",
		"proxy_cache_path ", "resolver", "zone ", "hash ", "ip_hash",
		// map blocks and their entries: the template's cookie-affinity
		// map serves only LB=cookie.
		"map ", "default ", `"" `,
	}
	var out []string
	for _, d := range directives {
		if slices.ContainsFunc(skip, func(p string) bool { return strings.HasPrefix(d, p) }) {
			continue
		}
		if f := strings.Fields(d); f[0] == "server" && len(f) >= 2 {
			f = slices.DeleteFunc(f[2:], func(s string) bool { return s == "resolve" })
			d = strings.Join(append([]string{"server <address>"}, f...), " ")
		}
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// upstreamServers returns the server addresses of `upstream name { … }`.
func upstreamServers(t *testing.T, path, name string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)\bupstream\s+` + regexp.QuoteMeta(name) + `\s*\{(.*?)\}`).FindSubmatch(b)
	if block == nil {
		t.Fatalf("%s has no upstream %s block", path, name)
	}
	var servers []string
	sc := bufio.NewScanner(strings.NewReader(string(block[1])))
	for sc.Scan() {
		f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(sc.Text()), ";"))
		if len(f) >= 2 && f[0] == "server" {
			servers = append(servers, f[1])
		}
	}
	return servers
}

// redisDirectives reads a redis.conf: directive name (lower case) to the
// rest of its line, the last one winning as in Redis.
func redisDirectives(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(string(mustRead(t, path))) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		out[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	return out
}

func TestNginxConf(t *testing.T) {
	p := loadProject(t)
	path := nginxConfSource(t, p)
	directives := nginxDirectives(t, path)
	has := func(prefix string) bool {
		return slices.ContainsFunc(directives, func(d string) bool { return strings.HasPrefix(d, prefix) })
	}

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"balances over exactly the three replica services", func(t *testing.T) {
			var want []string
			for _, r := range replicas {
				want = append(want, r+":"+addrPort(t, env(t, service(t, p, r), "ADDR")))
			}
			got := upstreamServers(t, path, "shop")
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("upstream shop servers = %v, want %v", got, want)
			}
		}},
		{"skips a failing replica and keeps connections to the others alive", func(t *testing.T) {
			for _, d := range []string{"server shop-1:8080 max_fails=", "keepalive ", "proxy_http_version 1.1", `proxy_set_header Connection ""`} {
				if !has(d) {
					t.Errorf("no %q directive", d)
				}
			}
			for _, d := range directives {
				if strings.HasPrefix(d, "server shop-") && !strings.Contains(d, "fail_timeout=") {
					t.Errorf("%q has no fail_timeout", d)
				}
			}
		}},
		{"retries another replica when one is down; a sent POST only when it carries an idempotency key", func(t *testing.T) {
			checkRetryRule(t, path, string(mustRead(t, path)))
		}},
		{"the local template retries by the same rule", func(t *testing.T) {
			checkRetryRule(t, "scripts/nginx-conf.sh 3 rr 8080", localNginxConf(t))
		}},
		{"passes client address, scheme and request id to the replicas", func(t *testing.T) {
			for _, d := range []string{
				"proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for",
				"proxy_set_header X-Forwarded-Proto $scheme",
				"proxy_set_header X-Request-ID $request_id",
				"proxy_set_header Host $http_host",
			} {
				if !has(d) {
					t.Errorf("no %q", d)
				}
			}
		}},
		{"caches static files", func(t *testing.T) {
			for _, d := range []string{"proxy_cache_path ", "location /static/", "proxy_cache shop_static", "proxy_ignore_headers Set-Cookie", "proxy_hide_header Set-Cookie"} {
				if !has(d) {
					t.Errorf("no %q", d)
				}
			}
		}},
		{"compresses pages, CSS and JavaScript", func(t *testing.T) {
			for _, d := range []string{"gzip on", "gzip_vary on", "gzip_proxied any"} {
				if !has(d) {
					t.Errorf("no %q", d)
				}
			}
			// text/html is compressed whenever gzip is on.
			for _, typ := range []string{"text/css", "application/javascript", "application/json", "image/svg+xml"} {
				if !slices.ContainsFunc(directives, func(d string) bool { return strings.HasPrefix(d, "gzip_types ") && strings.Contains(d, typ) }) {
					t.Errorf("gzip_types lacks %s", typ)
				}
			}
		}},
		{"proxies to the upstream and listens on the port compose publishes", func(t *testing.T) {
			if !has("proxy_pass http://shop") {
				t.Error("no proxy_pass http://shop")
			}
			if !has("listen 8080") {
				t.Error("nginx does not listen on 8080, the container port compose publishes")
			}
		}},
		{"proxies like the local nginx of make up", func(t *testing.T) {
			// The config `make up` writes for three replicas, round robin,
			// is the reference; the two may differ only in what containers
			// need (addresses, paths, logs, DNS), not in how requests are
			// proxied.
			local, docker := proxyBehaviour(nginxDirectivesOf(t, localNginxConf(t))), proxyBehaviour(directives)
			for _, d := range local {
				if !slices.Contains(docker, d) {
					t.Errorf("the local template has %q, deploy/docker/nginx.conf does not", d)
				}
			}
			for _, d := range docker {
				if !slices.Contains(local, d) {
					t.Errorf("deploy/docker/nginx.conf has %q, the local template does not", d)
				}
			}
		}},
		{"re-resolves replica names through Docker's DNS", func(t *testing.T) {
			// `resolve` needs a resolver and a shared-memory zone, else
			// nginx refuses to start.
			for _, d := range []string{"resolver 127.0.0.11", "zone "} {
				if !has(d) {
					t.Errorf("no %q", d)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nginxStmt is one directive of nginx.conf and the blocks around it, outer
// first: {"http", "server", "location /"} for a directive in location /.
type nginxStmt struct {
	blocks []string
	d      string
}

// nginxStatements is nginxDirectivesOf that keeps the nesting: every
// directive (block openings included, as a directive of their parent) with
// the blocks it is in.
func nginxStatements(conf string) []nginxStmt {
	var text strings.Builder
	for line := range strings.Lines(conf) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i] + "\n"
		}
		text.WriteString(line)
	}
	var (
		out   []nginxStmt
		stack []string
		cur   strings.Builder
	)
	for _, r := range text.String() {
		switch r {
		case ';', '{':
			d := strings.Join(strings.Fields(cur.String()), " ")
			cur.Reset()
			if d == "" {
				continue
			}
			out = append(out, nginxStmt{slices.Clone(stack), d})
			if r == '{' {
				stack = append(stack, d)
			}
		case '}':
			cur.Reset()
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			cur.WriteRune(r)
		}
	}
	return out
}

// inBlock returns the directives directly inside the innermost block named
// block (not those of blocks nested in it), or nil when there is none.
func inBlock(stmts []nginxStmt, block string) []string {
	var out []string
	for _, s := range stmts {
		if n := len(s.blocks); n > 0 && s.blocks[n-1] == block {
			out = append(out, s.d)
		}
	}
	return out
}

func withPrefix(ds []string, prefix string) []string {
	var out []string
	for _, d := range ds {
		if strings.HasPrefix(d, prefix) {
			out = append(out, d)
		}
	}
	return out
}

// checkRetryRule checks how an nginx.conf retries a request on another
// replica: every method when the request was not sent yet (refused, connect
// timeout: nginx's rule without non_idempotent), and a POST that was sent
// only when it carries an Idempotency-Key header or an idempotency_key query
// argument, which the shop applies once however often it arrives.
func checkRetryRule(t *testing.T, name, conf string) {
	t.Helper()
	stmts := nginxStatements(conf)
	server := inBlock(stmts, "server")
	if len(server) == 0 {
		t.Fatalf("%s: no server block", name)
	}
	fields := func(d string) []string { return strings.Fields(d) }

	// The server's rule, which every location without its own inherits.
	pnu := withPrefix(server, "proxy_next_upstream ")
	if len(pnu) != 1 {
		t.Fatalf("%s: server has proxy_next_upstream %q, want exactly one", name, pnu)
	}
	for _, want := range []string{"error", "timeout"} {
		if !slices.Contains(fields(pnu[0]), want) {
			t.Errorf("%s: server %q lacks %s: a request to a replica that is down would fail", name, pnu[0], want)
		}
	}
	if slices.Contains(fields(pnu[0]), "non_idempotent") {
		t.Errorf("%s: server %q retries every POST, keyed or not, after a replica may have applied it", name, pnu[0])
	}

	// The flag: set by either place a key can be where nginx sees it.
	maps := withPrefix(inBlock(stmts, "http"), "map ")
	keyed := slices.IndexFunc(maps, func(d string) bool {
		f := fields(d)
		return len(f) == 3 && strings.Contains(f[1], "$http_idempotency_key") && strings.Contains(f[1], "$arg_idempotency_key")
	})
	if keyed < 0 {
		t.Fatalf("%s: no map of $http_idempotency_key and $arg_idempotency_key to a flag (maps: %q)", name, maps)
	}
	flag := fields(maps[keyed])[2]
	if got := inBlock(stmts, maps[keyed]); !slices.Contains(got, `"" 0`) || !slices.Contains(got, "default 1") {
		t.Errorf("%s: %q maps %q, want \"\" 0 and default 1", name, maps[keyed], got)
	}

	// location / hands a keyed request to @keyed, the only place that
	// retries a sent POST.
	root := inBlock(stmts, "location /")
	if !slices.Contains(root, "error_page 418 = @keyed") {
		t.Errorf("%s: location / has %q, want error_page 418 = @keyed", name, root)
	}
	ifKeyed := "if (" + flag + ")"
	if !slices.Contains(root, ifKeyed) || !slices.Equal(inBlock(stmts, ifKeyed), []string{"return 418"}) {
		t.Errorf("%s: location / has %q and %s holds %q, want %s { return 418 }", name, root, ifKeyed, inBlock(stmts, ifKeyed), ifKeyed)
	}
	keyedLoc := inBlock(stmts, "location @keyed")
	if !slices.Contains(keyedLoc, "proxy_pass http://shop") {
		t.Errorf("%s: location @keyed has %q, want proxy_pass http://shop", name, keyedLoc)
	}
	kp := withPrefix(keyedLoc, "proxy_next_upstream ")
	if len(kp) != 1 || !slices.Equal(fields(kp[0])[1:], append(fields(pnu[0])[1:], "non_idempotent")) {
		t.Errorf("%s: location @keyed has proxy_next_upstream %q, want the server's %q plus non_idempotent", name, kp, pnu[0])
	}
	// A location that sets any proxy_set_header or add_header drops all the
	// server's (nginx inherits these lists only whole): both locations must
	// leave them to the server, so a keyed request is proxied like any other.
	for _, loc := range []string{"location /", "location @keyed"} {
		for _, d := range inBlock(stmts, loc) {
			if strings.HasPrefix(d, "proxy_set_header ") || strings.HasPrefix(d, "add_header ") || strings.HasPrefix(d, "proxy_hide_header ") {
				t.Errorf("%s: %s sets %q, which drops the server's headers there", name, loc, d)
			}
		}
	}
	// No other location retries a sent POST.
	for _, s := range stmts {
		if strings.HasPrefix(s.d, "proxy_next_upstream ") && slices.Contains(fields(s.d), "non_idempotent") &&
			(len(s.blocks) == 0 || s.blocks[len(s.blocks)-1] != "location @keyed") {
			t.Errorf("%s: %q in %q retries unkeyed POSTs", name, s.d, s.blocks)
		}
	}
}

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
}

// stage is one FROM … up to the next FROM.
type stage struct {
	from         string
	instructions []instruction
}

func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages  []stage
		pending string
	)
	for line := range strings.Lines(string(b)) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && pending == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			pending += rest + " "
			continue
		}
		full := strings.TrimSpace(pending + trimmed)
		pending = ""
		if full == "" {
			continue
		}
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, stage{from: in.args})
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("%s: %s before the first FROM", path, in.cmd)
			}
			continue
		}
		last := &stages[len(stages)-1]
		last.instructions = append(last.instructions, in)
	}
	return stages
}

// lastOf returns the arguments of a stage's last cmd instruction.
func (s stage) lastOf(cmd string) (string, bool) {
	for i := len(s.instructions) - 1; i >= 0; i-- {
		if s.instructions[i].cmd == cmd {
			return s.instructions[i].args, true
		}
	}
	return "", false
}

// baseImage is the image a FROM line names, without --platform or AS.
func (s stage) baseImage() string {
	for _, f := range strings.Fields(s.from) {
		if !strings.HasPrefix(f, "--") {
			return f
		}
	}
	return ""
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, filepath.Join(root(t), "Dockerfile"))
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	final := stages[len(stages)-1]
	var entrypoint []string

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"builds in one stage and ships another", func(t *testing.T) {
			if len(stages) < 2 {
				t.Errorf("%d stage(s), want a build stage and a final stage", len(stages))
			}
		}},
		{"builds a static binary", func(t *testing.T) {
			var found bool
			for _, st := range stages[:len(stages)-1] {
				for _, in := range st.instructions {
					if (in.cmd == "RUN" || in.cmd == "ENV") && strings.Contains(in.args, "CGO_ENABLED=0") {
						found = true
					}
				}
			}
			if !found {
				t.Error("no CGO_ENABLED=0 in a build stage: the binary may need libc")
			}
		}},
		{"runs as a non-root user", func(t *testing.T) {
			user, ok := final.lastOf("USER")
			if !ok {
				t.Fatal("final stage has no USER: it runs as root")
			}
			name, _, _ := strings.Cut(user, ":")
			if name == "root" || name == "0" || name == "" {
				t.Errorf("final stage USER %q is root", user)
			}
		}},
		{"starts the shop binary it copied in", func(t *testing.T) {
			args, ok := final.lastOf("ENTRYPOINT")
			if !ok {
				t.Fatal("final stage has no ENTRYPOINT")
			}
			if err := json.Unmarshal([]byte(args), &entrypoint); err != nil || len(entrypoint) == 0 {
				t.Fatalf("ENTRYPOINT %s is not an exec-form JSON array (signals would go to a shell): %v", args, err)
			}
			if entrypoint[0] != "/shop" {
				t.Errorf("ENTRYPOINT runs %q, want /shop", entrypoint[0])
			}
			copied := slices.ContainsFunc(final.instructions, func(in instruction) bool {
				f := strings.Fields(in.args)
				return in.cmd == "COPY" && strings.HasPrefix(in.args, "--from=") && f[len(f)-1] == entrypoint[0]
			})
			if !copied {
				t.Errorf("final stage copies nothing to %s from the build stage", entrypoint[0])
			}
		}},
		{"serves by default on the port compose uses", func(t *testing.T) {
			if cmd, _ := final.lastOf("CMD"); cmd != `["serve"]` {
				t.Errorf("CMD = %s, want [\"serve\"]", cmd)
			}
			if expose, _ := final.lastOf("EXPOSE"); !slices.Contains(strings.Fields(expose), "8080") {
				t.Errorf("EXPOSE = %q, want 8080", expose)
			}
		}},
		{"has the tool the compose healthchecks run", func(t *testing.T) {
			// The replicas' healthcheck runs inside this image: scratch and
			// distroless have no wget (nor a shell).
			p := loadProject(t)
			for _, r := range replicas {
				hc := service(t, p, r).HealthCheck
				if hc == nil || len(hc.Test) < 2 {
					t.Fatalf("%s has no healthcheck command", r)
				}
				tool := hc.Test[1]
				base := final.baseImage()
				if tool != "/shop" && (base == "scratch" || strings.Contains(base, "distroless")) {
					t.Errorf("%s healthcheck runs %s, which a %s image does not have", r, tool, base)
				}
			}
		}},
		{"downloads modules before copying the sources", func(t *testing.T) {
			build := stages[0]
			mods := slices.IndexFunc(build.instructions, func(in instruction) bool {
				return in.cmd == "COPY" && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum")
			})
			all := slices.IndexFunc(build.instructions, func(in instruction) bool {
				return in.cmd == "COPY" && strings.HasPrefix(in.args, ". ")
			})
			if mods < 0 || all < 0 || mods > all {
				t.Errorf("COPY go.mod go.sum at %d, COPY . at %d: want the modules layer first", mods, all)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}
