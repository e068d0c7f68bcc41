package deploy_test

// The Kubernetes manifests (deploy/k8s) checked without a cluster: each
// kustomization is rendered with kustomize's own Go API (krusty, what
// `kubectl kustomize` runs) and the objects it yields are decoded into the
// few fields the shop depends on, then checked against each other and
// against the variables the shop binary reads. What this cannot see is
// whether a cluster accepts them and the pods start.

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/the-shop/shop/internal/config"
)

// plannedVars are variables the manifests set that the shop reads once the
// rest of issue 13 lands (Sentinel, PgBouncer); until then the shop ignores
// them. Anything else not in config.Vars is a typo or a dead setting.
var plannedVars = []string{"REDIS_SENTINEL_ADDRS", "REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_PASSWORD", "DATABASE_DIRECT_URL"}

// secretVars must come from a Secret, never from a literal or the ConfigMap.
var secretVars = []string{"JWT_SECRET", "SESSION_ENCRYPTION_KEYS", "DATABASE_URL", "DATABASE_DIRECT_URL", "REDIS_URL", "REDIS_SENTINEL_PASSWORD"}

// The Kubernetes objects, reduced to what the checks read.
type (
	k8sObject struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name      string            `json:"name"`
			Namespace string            `json:"namespace"`
			Labels    map[string]string `json:"labels"`
		} `json:"metadata"`
		raw []byte
	}
	labelSelector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	}
	podTemplate struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec podSpec `json:"spec"`
	}
	podSpec struct {
		TerminationGracePeriodSeconds *int64      `json:"terminationGracePeriodSeconds"`
		RestartPolicy                 string      `json:"restartPolicy"`
		Containers                    []container `json:"containers"`
	}
	container struct {
		Name    string   `json:"name"`
		Image   string   `json:"image"`
		Command []string `json:"command"`
		Args    []string `json:"args"`
		Ports   []struct {
			Name          string `json:"name"`
			ContainerPort int    `json:"containerPort"`
		} `json:"ports"`
		EnvFrom []struct {
			ConfigMapRef *struct{ Name string } `json:"configMapRef"`
			SecretRef    *struct{ Name string } `json:"secretRef"`
		} `json:"envFrom"`
		Env            []envVar `json:"env"`
		ReadinessProbe *probe   `json:"readinessProbe"`
		LivenessProbe  *probe   `json:"livenessProbe"`
		Lifecycle      *struct {
			PreStop *struct {
				Sleep *struct {
					Seconds int64 `json:"seconds"`
				} `json:"sleep"`
				Exec *struct {
					Command []string `json:"command"`
				} `json:"exec"`
			} `json:"preStop"`
		} `json:"lifecycle"`
		Resources struct {
			Requests map[string]string `json:"requests"`
			Limits   map[string]string `json:"limits"`
		} `json:"resources"`
	}
	envVar struct {
		Name      string `json:"name"`
		Value     string `json:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `json:"name"`
				Key      string `json:"key"`
				Optional bool   `json:"optional"`
			} `json:"secretKeyRef"`
			ConfigMapKeyRef *struct {
				Name string `json:"name"`
				Key  string `json:"key"`
			} `json:"configMapKeyRef"`
			FieldRef *struct {
				FieldPath string `json:"fieldPath"`
			} `json:"fieldRef"`
		} `json:"valueFrom"`
	}
	probe struct {
		HTTPGet *struct {
			Path string          `json:"path"`
			Port json.RawMessage `json:"port"`
		} `json:"httpGet"`
	}
	deployment struct {
		Spec struct {
			Replicas *int          `json:"replicas"`
			Selector labelSelector `json:"selector"`
			Template podTemplate   `json:"template"`
		} `json:"spec"`
	}
	job struct {
		Spec struct {
			Template podTemplate `json:"template"`
		} `json:"spec"`
	}
	k8sService struct {
		Spec struct {
			Selector map[string]string `json:"selector"`
			Ports    []servicePort     `json:"ports"`
		} `json:"spec"`
	}
	servicePort struct {
		Name       string          `json:"name"`
		Port       int             `json:"port"`
		TargetPort json.RawMessage `json:"targetPort"`
	}
	pdb struct {
		Spec struct {
			MinAvailable   json.RawMessage `json:"minAvailable"`
			MaxUnavailable json.RawMessage `json:"maxUnavailable"`
			Selector       labelSelector   `json:"selector"`
		} `json:"spec"`
	}
	hpa struct {
		Spec struct {
			ScaleTargetRef struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Name       string `json:"name"`
			} `json:"scaleTargetRef"`
			MinReplicas *int `json:"minReplicas"`
			MaxReplicas int  `json:"maxReplicas"`
			Metrics     []struct {
				Type string `json:"type"`
			} `json:"metrics"`
		} `json:"spec"`
	}
	configMap struct {
		Data map[string]string `json:"data"`
	}
	secret struct {
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	gateway struct {
		Spec struct {
			GatewayClassName string `json:"gatewayClassName"`
			Listeners        []struct {
				Name     string `json:"name"`
				Protocol string `json:"protocol"`
				Port     int    `json:"port"`
			} `json:"listeners"`
		} `json:"spec"`
	}
	httpRoute struct {
		Spec struct {
			ParentRefs []struct {
				Name        string `json:"name"`
				SectionName string `json:"sectionName"`
			} `json:"parentRefs"`
			Rules []struct {
				BackendRefs []struct {
					Name string `json:"name"`
					Port int    `json:"port"`
				} `json:"backendRefs"`
			} `json:"rules"`
		} `json:"spec"`
	}
)

// rendered is one kustomization's output.
type rendered struct {
	dir     string
	objects []k8sObject
}

func render(t *testing.T, dir string) rendered {
	t.Helper()
	path := filepath.Join(root(t), dir)
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), path)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	r := rendered{dir: dir}
	for _, res := range m.Resources() {
		b, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s %s: %v", dir, res.GetKind(), res.GetName(), err)
		}
		var o k8sObject
		if err := json.Unmarshal(b, &o); err != nil {
			t.Fatalf("%s: decode %s: %v", dir, b, err)
		}
		o.raw = b
		r.objects = append(r.objects, o)
	}
	return r
}

// only decodes the one object of kind into v (a pointer), failing unless
// there is exactly one, and returns its metadata.
func (r rendered) only(t *testing.T, kind string, v any) k8sObject {
	t.Helper()
	var found []k8sObject
	for _, o := range r.objects {
		if o.Kind == kind {
			found = append(found, o)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s renders %d %s objects, want 1", r.dir, len(found), kind)
	}
	if err := json.Unmarshal(found[0].raw, v); err != nil {
		t.Fatalf("%s: decode %s: %v", r.dir, kind, err)
	}
	return found[0]
}

func (r rendered) all(t *testing.T, kind string) []k8sObject {
	t.Helper()
	var out []k8sObject
	for _, o := range r.objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func decode(t *testing.T, o k8sObject, v any) {
	t.Helper()
	if err := json.Unmarshal(o.raw, v); err != nil {
		t.Fatalf("decode %s %s: %v", o.Kind, o.Metadata.Name, err)
	}
}

// secretValues returns the Secret's values, decoded.
func secretValues(t *testing.T, s secret) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range s.Data {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			t.Fatalf("secret data %s is not base64: %v", k, err)
		}
		out[k] = string(b)
	}
	for k, v := range s.StringData {
		out[k] = v
	}
	return out
}

// shopEnv is the environment a container sees: its ConfigMap and Secret
// envFrom first, then env (which wins), with secret references resolved
// through secrets (by Secret name). A fieldRef is given as its path.
func shopEnv(t *testing.T, c container, configMaps map[string]configMap, secrets map[string]map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, ok := configMaps[ef.ConfigMapRef.Name]
			if !ok {
				t.Fatalf("%s: envFrom ConfigMap %q is not rendered", c.Name, ef.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				env[k] = v
			}
		case ef.SecretRef != nil:
			s, ok := secrets[ef.SecretRef.Name]
			if !ok {
				t.Fatalf("%s: envFrom Secret %q is not rendered", c.Name, ef.SecretRef.Name)
			}
			for k, v := range s {
				env[k] = v
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			v, ok := secrets[ref.Name][ref.Key]
			if !ok && !ref.Optional {
				t.Errorf("%s: %s refers to key %s of Secret %s, which is not rendered", c.Name, e.Name, ref.Key, ref.Name)
			}
			if ok {
				env[e.Name] = v
			}
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			env[e.Name] = configMaps[ref.Name].Data[ref.Key]
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		}
	}
	return env
}

// portOf resolves a probe's or Service's port (a number or a port name) to
// the container's port number.
func portOf(t *testing.T, c container, raw json.RawMessage) int {
	t.Helper()
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		return n
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		t.Fatalf("port %s is neither a number nor a name", raw)
	}
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, name)
	return 0
}

func intOrPercent(raw json.RawMessage) (int, bool) {
	var n int
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil {
		return 0, false
	}
	return n, true
}

func isSubset(sub, of map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

func TestKubernetesManifests(t *testing.T) {
	known := map[string]bool{}
	for _, v := range config.Vars() {
		known[v.Name] = true
	}
	for _, v := range plannedVars {
		known[v] = true
	}

	for _, dir := range []string{"deploy/k8s/base", "deploy/k8s/overlays/production"} {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			r := render(t, dir)

			var dep deployment
			depObj := r.only(t, "Deployment", &dep)
			var jb job
			r.only(t, "Job", &jb)
			var svc k8sService
			svcObj := r.only(t, "Service", &svc)
			var budget pdb
			r.only(t, "PodDisruptionBudget", &budget)
			var scaler hpa
			r.only(t, "HorizontalPodAutoscaler", &scaler)
			var gw gateway
			gwObj := r.only(t, "Gateway", &gw)

			configMaps := map[string]configMap{}
			for _, o := range r.all(t, "ConfigMap") {
				var cm configMap
				decode(t, o, &cm)
				configMaps[o.Metadata.Name] = cm
			}
			secrets := map[string]map[string]string{}
			for _, o := range r.all(t, "Secret") {
				var s secret
				decode(t, o, &s)
				secrets[o.Metadata.Name] = secretValues(t, s)
			}
			if len(dep.Spec.Template.Spec.Containers) != 1 || len(jb.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("the Deployment has %d containers and the Job %d, want one each",
					len(dep.Spec.Template.Spec.Containers), len(jb.Spec.Template.Spec.Containers))
			}
			shop := dep.Spec.Template.Spec.Containers[0]
			migrate := jb.Spec.Template.Spec.Containers[0]
			shopVars := shopEnv(t, shop, configMaps, secrets)
			migrateVars := shopEnv(t, migrate, configMaps, secrets)
			podLabels := dep.Spec.Template.Metadata.Labels

			tests := []struct {
				name  string
				check func(t *testing.T)
			}{
				{"runs three replicas", func(t *testing.T) {
					if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 {
						t.Errorf("replicas = %v, want 3", dep.Spec.Replicas)
					}
					if !isSubset(dep.Spec.Selector.MatchLabels, podLabels) {
						t.Errorf("selector %v does not select the pod labels %v", dep.Spec.Selector.MatchLabels, podLabels)
					}
				}},
				{"sets only variables the shop reads or will read", func(t *testing.T) {
					for name, vars := range map[string]map[string]string{"Deployment": shopVars, "Job": migrateVars} {
						for k := range vars {
							if !known[k] {
								t.Errorf("%s sets %s, which is not in config.Vars nor planned: a typo, or a setting that does nothing", name, k)
							}
						}
					}
					// A set but optional secret reference is a name too.
					for _, c := range []container{shop, migrate} {
						for _, e := range c.Env {
							if !known[e.Name] {
								t.Errorf("%s sets %s, which is not in config.Vars nor planned", c.Name, e.Name)
							}
						}
					}
				}},
				{"the replicas never migrate; the Job does, once", func(t *testing.T) {
					if got := shopVars["MIGRATE_ON_START"]; got != "false" {
						t.Errorf("Deployment MIGRATE_ON_START = %q, want false", got)
					}
					if len(migrate.Command) != 0 && !slices.Equal(migrate.Command, []string{"/shop"}) {
						t.Errorf("Job command = %q: it would not run the shop binary", migrate.Command)
					}
					if !slices.Equal(migrate.Args, []string{"migrate", "up"}) {
						t.Errorf("Job args = %q, want [migrate up]", migrate.Args)
					}
					if p := jb.Spec.Template.Spec.RestartPolicy; p != "Never" && p != "OnFailure" {
						t.Errorf("Job restartPolicy = %q, want Never or OnFailure", p)
					}
					if migrate.Image != shop.Image {
						t.Errorf("Job image %q, Deployment image %q: migrations must come from the binary that serves", migrate.Image, shop.Image)
					}
					if !slices.Equal(shop.Args, []string{"serve"}) && len(shop.Args) != 0 {
						t.Errorf("Deployment args = %q, want serve", shop.Args)
					}
				}},
				{"migrates straight on the primary, not through PgBouncer", func(t *testing.T) {
					if got, want := migrateVars["DATABASE_URL"], shopVars["DATABASE_DIRECT_URL"]; got == "" || got != want {
						t.Errorf("Job DATABASE_URL = %q, want the replicas' DATABASE_DIRECT_URL %q (goose's session lock)", got, want)
					}
				}},
				{"reaches Redis through Sentinel", func(t *testing.T) {
					addrs := strings.Split(shopVars["REDIS_SENTINEL_ADDRS"], ",")
					if len(addrs) < 3 {
						t.Errorf("REDIS_SENTINEL_ADDRS = %q, want at least three sentinels (a quorum of two survives one)", addrs)
					}
					for _, a := range addrs {
						if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
							t.Errorf("sentinel address %q is not host:port: %v", a, err)
						}
					}
					if shopVars["REDIS_SENTINEL_MASTER"] == "" {
						t.Error("REDIS_SENTINEL_MASTER is not set")
					}
					if v, ok := shopVars["REDIS_URL"]; ok {
						t.Errorf("REDIS_URL = %q is set too: one way to Redis, through the sentinels", v)
					}
					if shopVars["SESSION_STORE"] != "redis" {
						t.Errorf("SESSION_STORE = %q, want redis", shopVars["SESSION_STORE"])
					}
				}},
				{"reaches PostgreSQL through PgBouncer, and the primary directly", func(t *testing.T) {
					pooled := mustURL(t, shopVars["DATABASE_URL"])
					if !strings.Contains(pooled.Hostname(), "pgbouncer") {
						t.Errorf("DATABASE_URL host %q is not PgBouncer", pooled.Hostname())
					}
					if mode := pooled.Query().Get("default_query_exec_mode"); mode != "exec" && mode != "simple_protocol" {
						t.Errorf("DATABASE_URL default_query_exec_mode = %q: named prepared statements break behind PgBouncer's transaction pooling", mode)
					}
					direct := mustURL(t, shopVars["DATABASE_DIRECT_URL"])
					if strings.Contains(direct.Host, "pgbouncer") {
						t.Errorf("DATABASE_DIRECT_URL host %q is PgBouncer", direct.Host)
					}
					if got := direct.Query().Get("target_session_attrs"); got != "read-write" {
						t.Errorf("DATABASE_DIRECT_URL target_session_attrs = %q, want read-write (finds the primary after a failover)", got)
					}
				}},
				{"probes readiness on /readyz and liveness on /healthz at the listen port", func(t *testing.T) {
					_, port, err := net.SplitHostPort(shopVars["ADDR"])
					if err != nil {
						t.Fatalf("ADDR %q: %v", shopVars["ADDR"], err)
					}
					for _, p := range []struct {
						kind  string
						probe *probe
						path  string
					}{{"readiness", shop.ReadinessProbe, "/readyz"}, {"liveness", shop.LivenessProbe, "/healthz"}} {
						if p.probe == nil || p.probe.HTTPGet == nil {
							t.Errorf("no %s httpGet probe", p.kind)
							continue
						}
						if p.probe.HTTPGet.Path != p.path {
							t.Errorf("%s probe path = %q, want %s", p.kind, p.probe.HTTPGet.Path, p.path)
						}
						if got := strconv.Itoa(portOf(t, shop, p.probe.HTTPGet.Port)); got != port {
							t.Errorf("%s probe port = %s, want ADDR's %s", p.kind, got, port)
						}
					}
				}},
				{"drains before SIGTERM and finishes before SIGKILL", func(t *testing.T) {
					var pause time.Duration
					switch ps := shop.Lifecycle; {
					case ps == nil || ps.PreStop == nil:
						t.Fatal("no preStop: the listener closes while endpoints still send traffic")
					case ps.PreStop.Sleep != nil:
						pause = time.Duration(ps.PreStop.Sleep.Seconds) * time.Second
					case ps.PreStop.Exec != nil && len(ps.PreStop.Exec.Command) == 2 && ps.PreStop.Exec.Command[0] == "sleep":
						n, _ := strconv.Atoi(ps.PreStop.Exec.Command[1])
						pause = time.Duration(n) * time.Second
					}
					if pause < 5*time.Second {
						t.Errorf("preStop pause = %v, want at least 5s for the endpoints to drain", pause)
					}
					shutdown, err := time.ParseDuration(shopVars["SHUTDOWN_TIMEOUT"])
					if err != nil {
						t.Fatalf("SHUTDOWN_TIMEOUT %q: %v", shopVars["SHUTDOWN_TIMEOUT"], err)
					}
					g := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
					if g == nil {
						t.Fatal("no terminationGracePeriodSeconds")
					}
					// The grace period counts from the start of preStop.
					if grace := time.Duration(*g) * time.Second; grace <= pause+shutdown {
						t.Errorf("terminationGracePeriodSeconds %v <= preStop %v + SHUTDOWN_TIMEOUT %v: SIGKILL cuts the drain", grace, pause, shutdown)
					}
				}},
				{"the PodDisruptionBudget and the autoscaler target the Deployment", func(t *testing.T) {
					if !isSubset(budget.Spec.Selector.MatchLabels, podLabels) {
						t.Errorf("PDB selector %v does not select the pods %v", budget.Spec.Selector.MatchLabels, podLabels)
					}
					if n, ok := intOrPercent(budget.Spec.MaxUnavailable); ok && (n < 1 || n >= *dep.Spec.Replicas) {
						t.Errorf("PDB maxUnavailable = %d of %d replicas", n, *dep.Spec.Replicas)
					}
					if n, ok := intOrPercent(budget.Spec.MinAvailable); ok && n >= *dep.Spec.Replicas {
						t.Errorf("PDB minAvailable = %d of %d replicas: no node could ever be drained", n, *dep.Spec.Replicas)
					}
					if len(budget.Spec.MaxUnavailable) == 0 && len(budget.Spec.MinAvailable) == 0 {
						t.Error("PDB sets neither maxUnavailable nor minAvailable")
					}
					ref := scaler.Spec.ScaleTargetRef
					if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != depObj.Metadata.Name {
						t.Errorf("HPA scaleTargetRef = %+v, want apps/v1 Deployment %s", ref, depObj.Metadata.Name)
					}
					if scaler.Spec.MinReplicas == nil || *scaler.Spec.MinReplicas < *dep.Spec.Replicas || scaler.Spec.MaxReplicas < *scaler.Spec.MinReplicas {
						t.Errorf("HPA min %v max %d, want at least the Deployment's %d and max >= min", scaler.Spec.MinReplicas, scaler.Spec.MaxReplicas, *dep.Spec.Replicas)
					}
					if len(scaler.Spec.Metrics) == 0 {
						t.Error("HPA has no metrics")
					}
					if shop.Resources.Requests["cpu"] == "" {
						t.Error("no CPU request: the autoscaler's utilization has nothing to divide by")
					}
				}},
				{"secrets are referenced, never inlined", func(t *testing.T) {
					for _, c := range []container{shop, migrate} {
						for _, e := range c.Env {
							if slices.Contains(secretVars, e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
								t.Errorf("%s: %s is not a secretKeyRef", c.Name, e.Name)
							}
						}
					}
					for name, cm := range configMaps {
						for _, k := range secretVars {
							if _, ok := cm.Data[k]; ok {
								t.Errorf("ConfigMap %s holds %s, a secret", name, k)
							}
						}
					}
					for _, k := range []string{"JWT_SECRET", "SESSION_ENCRYPTION_KEYS", "DATABASE_URL", "DATABASE_DIRECT_URL"} {
						if _, ok := shopVars[k]; !ok {
							t.Errorf("the Deployment does not set %s", k)
						}
					}
				}},
				{"the Secret holds placeholders the shop refuses to start with", func(t *testing.T) {
					for name, s := range secrets {
						for k, v := range s {
							if !strings.Contains(v, "CHANGE-ME") {
								t.Errorf("Secret %s key %s = %q is not a CHANGE-ME placeholder: a real value in git?", name, k, v)
							}
						}
					}
					_, err := config.Load(func(k string) string { return shopVars[k] })
					for _, k := range []string{"JWT_SECRET", "SESSION_ENCRYPTION_KEYS"} {
						if err == nil || !strings.Contains(err.Error(), k) {
							t.Errorf("the shop starts with the placeholder %s (config.Load: %v)", k, err)
						}
					}
				}},
				{"the configuration is valid once the secrets are real", func(t *testing.T) {
					real := map[string]string{
						"JWT_SECRET":              strings.Repeat("k", 32),
						"SESSION_ENCRYPTION_KEYS": base64.StdEncoding.EncodeToString(make([]byte, 32)),
					}
					for name, vars := range map[string]map[string]string{"Deployment": shopVars, "Job": migrateVars} {
						_, err := config.Load(func(k string) string {
							if v, ok := real[k]; ok && vars[k] != "" {
								return v
							}
							return vars[k]
						})
						if err != nil {
							t.Errorf("%s: %v", name, err)
						}
					}
				}},
				{"the HTTPRoute sends traffic to the Service's port, through the Gateway", func(t *testing.T) {
					if gw.Spec.GatewayClassName != "nginx" {
						t.Errorf("gatewayClassName = %q, want nginx (NGINX Gateway Fabric)", gw.Spec.GatewayClassName)
					}
					listeners := map[string]bool{}
					for _, l := range gw.Spec.Listeners {
						listeners[l.Name] = true
					}
					var toShop int
					for _, o := range r.all(t, "HTTPRoute") {
						var rt httpRoute
						decode(t, o, &rt)
						for _, p := range rt.Spec.ParentRefs {
							if p.Name != gwObj.Metadata.Name || (p.SectionName != "" && !listeners[p.SectionName]) {
								t.Errorf("HTTPRoute %s parent %+v is not a listener of Gateway %s", o.Metadata.Name, p, gwObj.Metadata.Name)
							}
						}
						for _, rule := range rt.Spec.Rules {
							for _, b := range rule.BackendRefs {
								if b.Name != svcObj.Metadata.Name || !slices.ContainsFunc(svc.Spec.Ports, func(p servicePort) bool { return p.Port == b.Port }) {
									t.Errorf("HTTPRoute %s backend %s:%d is not a port of Service %s", o.Metadata.Name, b.Name, b.Port, svcObj.Metadata.Name)
								}
								toShop++
							}
						}
					}
					if toShop == 0 {
						t.Error("no HTTPRoute sends traffic to the Service")
					}
				}},
				{"the Service selects the replicas and reaches their listen port", func(t *testing.T) {
					if !isSubset(svc.Spec.Selector, podLabels) {
						t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, podLabels)
					}
					_, port, _ := net.SplitHostPort(shopVars["ADDR"])
					for _, p := range svc.Spec.Ports {
						if got := strconv.Itoa(portOf(t, shop, p.TargetPort)); got != port {
							t.Errorf("Service port %d targets %s, want ADDR's %s", p.Port, got, port)
						}
					}
				}},
				{"every container names a pinned image and its resources", func(t *testing.T) {
					for _, c := range []container{shop, migrate} {
						ref := c.Image
						if i := strings.LastIndex(ref, "/"); i >= 0 {
							ref = ref[i+1:]
						}
						_, tag, tagged := strings.Cut(ref, ":")
						if c.Image == "" || (!tagged && !strings.Contains(c.Image, "@sha256:")) || tag == "latest" {
							t.Errorf("%s image %q: want a registry image with a version tag or a digest", c.Name, c.Image)
						}
						for _, k := range []string{"cpu", "memory"} {
							if c.Resources.Requests[k] == "" {
								t.Errorf("%s has no %s request", c.Name, k)
							}
						}
						if c.Resources.Limits["memory"] == "" {
							t.Errorf("%s has no memory limit", c.Name)
						}
					}
				}},
			}
			for _, tt := range tests {
				t.Run(tt.name, tt.check)
			}
		})
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		t.Fatalf("%q is not a URL: %v", raw, err)
	}
	return u
}
