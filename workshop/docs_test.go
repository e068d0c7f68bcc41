package workshop

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// workshop/README.md follows the steps as the code has them: one section per
// step, titled as the checker prints it, with the commands to run and the
// settings the step uses.
func TestDocsFollowTheSteps(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	// Every step shows the footer's replica and store; the guide says so once.
	if !strings.Contains(doc, "SHOW_SERVED_BY=true") {
		t.Error("workshop/README.md does not say that every step sets SHOW_SERVED_BY=true")
	}
	for _, s := range Steps {
		heading := fmt.Sprintf("## Step %d: %s\n", s.N, s.Title)
		start := strings.Index(doc, heading)
		if start < 0 {
			t.Errorf("workshop/README.md has no heading %q", strings.TrimSpace(heading))
			continue
		}
		section := doc[start+len(heading):]
		if end := strings.Index(section, "\n## "); end >= 0 {
			section = section[:end]
		}
		for _, want := range []string{
			fmt.Sprintf("make workshop STEP=%d", s.N),
			fmt.Sprintf("make workshop-check STEP=%d", s.N),
			fmt.Sprintf("Step %d: all ", s.N), // a sample of the checker's output
		} {
			if !strings.Contains(section, want) {
				t.Errorf("step %d's section does not say %q", s.N, want)
			}
		}
		for _, st := range s.Settings() {
			if st.Name == "SESSION_ENCRYPTION_KEYS" || st.Name == "SHOW_SERVED_BY" || (st.Name == "REPLICAS" && st.Value == "3") || (st.Name == "LB" && st.Value == "rr" && s.N > 2) {
				continue
			}
			if want := st.Name + "=" + st.Value; !strings.Contains(section, want) {
				t.Errorf("step %d's section does not name its setting %s", s.N, want)
			}
		}
	}
}
