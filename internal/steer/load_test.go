package steer

import (
	"testing"
)

func TestLoad(t *testing.T) {
	p := loadTestPrograms(t)
	_ = p
	d, err := LoadDecap(testMatch().VIPs, 6080)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
}
