package afxdp

import (
	"strings"
	"testing"
)

// TestConfigErrors: every bad field is refused with an error naming it;
// the zero fields get their defaults.
func TestConfigErrors(t *testing.T) {
	ok := Config{Ifaces: []string{"eth0"}}
	got, err := ok.withDefaults(4096)
	if err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if got.FrameSize != DefaultFrameSize || got.Frames != DefaultFrames || got.RingSize != DefaultRingSize {
		t.Errorf("defaults %+v", got)
	}
	for _, tt := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Ifaces is empty"},
		{Config{Ifaces: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}}, "9 interfaces"},
		{Config{Ifaces: []string{"a", "a"}}, `"a" listed twice`},
		{Config{Ifaces: []string{"a", ""}}, "Ifaces[1] is empty"},
		{Config{Ifaces: []string{"a"}, Queue: -1}, "Queue -1"},
		{Config{Ifaces: []string{"a"}, FrameSize: 3000}, "FrameSize 3000"},
		{Config{Ifaces: []string{"a"}, FrameSize: 1024}, "FrameSize 1024"},
		{Config{Ifaces: []string{"a"}, FrameSize: 8192}, "FrameSize 8192"},
		{Config{Ifaces: []string{"a"}, RingSize: 100}, "RingSize 100"},
		{Config{Ifaces: []string{"a"}, RingSize: 32}, "RingSize 32"},
		{Config{Ifaces: []string{"a"}, Frames: 10}, "Frames 10"},
	} {
		_, err := tt.cfg.withDefaults(4096)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want one containing %q", tt.cfg, err, tt.want)
		}
	}
}
