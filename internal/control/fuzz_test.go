package control

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

// FuzzApplyBody feeds arbitrary request bodies to POST /v1/apply: the
// handler never panics, answers 200, 400 or 409, and whenever it does not
// answer 200 the table is exactly as before.
func FuzzApplyBody(f *testing.F) {
	for _, seed := range []string{
		`[]`,
		`[{"op":"add-service","service":{"protocol":"TCP","addr":"10.0.0.1","port":80,"scheduler":"rr"}}]`,
		`[{"op":"add-server","service":{"protocol":"TCP","addr":"10.0.0.1","port":80},"dest":{"addr":"10.1.1.1","port":80,"method":"Masq","weight":1}}]`,
		`[{"op":"clear"},{"op":"add-service","service":{"fwmark":7,"ipv6":true,"scheduler":"mh","persistent":true,"timeout":60}}]`,
		`[{"op":"set","timeouts":{"tcp":3600,"tcp_fin":0,"udp":9999999}}]`,
		`[{"op":"start-daemon","daemon":{"role":"master","interface":"eth0","group":"10.0.0.1"}}]`,
		`[{"op":"zero"},{"op":"delete-service","service":{"protocol":"UDP","addr":"::1","port":53}}]`,
		`{"op":"clear"}`,
		`[{"op":"clear","bogus":1}]`,
		`[{"op":"add-server","service":{"protocol":"TCP","addr":"10.0.0.1","port":80},"dest":{"addr":"10.1.1.2","port":80,"method":"Tunnel","tun_type":"gue","tun_port":0}}]`,
	} {
		f.Add([]byte(seed))
	}
	s := newServer(&testing.T{})
	mux := http.NewServeMux()
	s.Register(mux)
	// Something to lose.
	base := []byte(`[{"op":"add-service","service":{"protocol":"TCP","addr":"10.0.0.1","port":80,"scheduler":"rr"}},` +
		`{"op":"add-server","service":{"protocol":"TCP","addr":"10.0.0.1","port":80},"dest":{"addr":"10.1.1.1","port":80,"method":"Masq","weight":1}}]`)
	f.Fuzz(func(t *testing.T, body []byte) {
		s.Apply(nil)
		post := func(b []byte) int {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/apply", bytes.NewReader(b)))
			return rec.Code
		}
		post([]byte(`[{"op":"clear"}]`))
		if code := post(base); code != http.StatusOK {
			t.Fatalf("base batch: %d", code)
		}
		before, tb := s.Table(), s.Timeouts()
		code := post(body)
		switch code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusConflict:
			if after := s.Table(); !reflect.DeepEqual(before, after) || s.Timeouts() != tb {
				t.Fatalf("refused body (%d) changed the table:\n%s", code, body)
			}
		default:
			t.Fatalf("status %d for %q", code, body)
		}
	})
}
