package logtest

import (
	"fmt"
	"testing"
)

func TestHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		log  string
		want bool
	}{
		{"in a string value", `{"time":"2026-01-01T00:00:00Z","msg":"x","detail":"code 9876 sent"}`, true},
		{"in a key", `{"msg":"x","9876":"y"}`, true},
		{"a number that is the secret", `{"msg":"x","code":9876}`, true},
		{"nested in a group", `{"msg":"x","req":{"body":["a","9876"]}}`, true},
		{"a plain text line", `time=now msg=x code=9876`, true},
		{"only inside the timestamp", `{"time":"2026-11-26T08:08:09.457149876Z","msg":"x"}`, false},
		{"only inside a longer number", `{"msg":"x","elapsed":1498765,"latency_ms":9.8765}`, false},
		{"absent", `{"msg":"x","number":"+4420•••8750"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b Buffer
			fmt.Fprintln(&b, `{"msg":"an unrelated line before"}`)
			fmt.Fprintln(&b, tt.log)
			if got := b.Holds("9876"); got != tt.want {
				t.Errorf("Holds = %v, want %v", got, tt.want)
			}
		})
	}
}
