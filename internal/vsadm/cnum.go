package vsadm

import (
	"math"
	"net/netip"
	"strings"
)

// The C library conversions ipvsadm relies on, reproduced so that vsadm
// accepts and refuses exactly the same spellings (leading blanks and a sign
// for numbers, inet_aton's short and octal/hex forms for IPv4 addresses).

// cIsSpace is C's isspace in the "C" locale.
func cIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func cIsDigit(c byte) bool { return c >= '0' && c <= '9' }

// strtoDec parses like strtol/strtoul with base 10: leading blanks, an
// optional sign, then digits. It reports the magnitude, the sign, whether
// the magnitude overflowed 64 bits, and how many bytes were consumed (0 if
// there were no digits, as C's end == s).
func strtoDec(s string) (mag uint64, neg, overflow bool, n int) {
	i := 0
	for i < len(s) && cIsSpace(s[i]) {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && cIsDigit(s[i]) {
		d := uint64(s[i] - '0')
		if mag > (math.MaxUint64-d)/10 {
			overflow = true
		} else if !overflow {
			mag = mag*10 + d
		}
		i++
	}
	if i == start {
		return 0, false, false, 0
	}
	return mag, neg, overflow, i
}

// strtol is C's strtol(s, &end, 10) on a 64-bit long: the value (clamped
// on overflow), whether all of s was consumed by a non-empty number, and
// whether it overflowed (errno == ERANGE).
func strtol(s string) (v int64, whole, erange bool) {
	mag, neg, ovf, n := strtoDec(s)
	if n == 0 {
		return 0, false, false
	}
	whole = n == len(s)
	switch {
	case neg && (ovf || mag > 1<<63):
		return math.MinInt64, whole, true
	case !neg && (ovf || mag > math.MaxInt64):
		return math.MaxInt64, whole, true
	case neg:
		return -int64(mag), whole, false
	}
	return int64(mag), whole, false
}

// stringToNumber is ipvsadm's string_to_number: the whole string must be
// a decimal number within [min, max]; otherwise -1.
func stringToNumber(s string, min, max int64) int64 {
	v, whole, erange := strtol(s)
	if !whole || erange || v < min || v > max {
		return -1
	}
	return v
}

// strtoul is C's strtoul(s, &end, 10) on a 64-bit unsigned long: a minus
// sign negates modulo 2^64.
func strtoul(s string) (v uint64, whole, erange bool) {
	mag, neg, ovf, n := strtoDec(s)
	if n == 0 {
		return 0, false, false
	}
	if ovf {
		return math.MaxUint64, n == len(s), true
	}
	if neg {
		mag = -mag
	}
	return mag, n == len(s), false
}

// atoi is glibc's atoi: (int)strtol(s, NULL, 10), no error reporting.
func atoi(s string) int32 {
	v, _, _ := strtol(s)
	return int32(v) // C's conversion keeps the low 32 bits
}

// inetAton is glibc's inet_aton: 1 to 4 parts separated by dots, each
// read by strtoul with base 0 (decimal, octal with a leading 0, hex with
// 0x); the last part fills the remaining bytes; the text may end at a
// blank followed by anything.
func inetAton(s string) (uint32, bool) {
	var parts [3]uint32
	np := 0
	i := 0
	var val uint64
	for {
		if i >= len(s) || !cIsDigit(s[i]) {
			return 0, false
		}
		v, n, ok := strtoulBase0(s[i:])
		if !ok || v > math.MaxUint32 {
			return 0, false
		}
		val = v
		i += n
		if i < len(s) && s[i] == '.' {
			if np > 2 || val > 0xff {
				return 0, false
			}
			parts[np] = uint32(val)
			np++
			i++
			continue
		}
		break
	}
	if i < len(s) && !cIsSpace(s[i]) {
		return 0, false
	}
	max := [4]uint64{0xffffffff, 0xffffff, 0xffff, 0xff}
	if val > max[np] {
		return 0, false
	}
	v := uint32(val)
	for k := 0; k < np; k++ {
		v |= parts[k] << (24 - 8*k)
	}
	return v, true
}

// strtoulBase0 reads an unsigned number the way strtoul(s, &end, 0) does
// when s starts with a digit: it returns the value, the bytes consumed and
// false on overflow.
func strtoulBase0(s string) (v uint64, n int, ok bool) {
	base := uint64(10)
	i := 0
	if s[0] == '0' {
		if len(s) > 2 && (s[1] == 'x' || s[1] == 'X') && hexVal(s[2]) >= 0 {
			base, i = 16, 2
		} else {
			base = 8
		}
	}
	overflow := false
	for ; i < len(s); i++ {
		d := hexVal(s[i])
		if d < 0 || uint64(d) >= base {
			break
		}
		if v > (math.MaxUint64-uint64(d))/base {
			overflow = true
		}
		v = v*base + uint64(d)
	}
	return v, i, !overflow
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// inetPton6 is inet_pton(AF_INET6, s): a textual IPv6 address, no zone.
func inetPton6(s string) (netip.Addr, bool) {
	if !strings.Contains(s, ":") || strings.Contains(s, "%") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is6() {
		return netip.Addr{}, false
	}
	return a, true
}

// inetPton4 is inet_pton(AF_INET, s): exactly a dotted quad.
func inetPton4(s string) (netip.Addr, bool) {
	if strings.Contains(s, ":") {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// strIsDigit is ipvsadm's str_is_digit: true for "" and all-digit strings.
func strIsDigit(s string) bool {
	for i := 0; i < len(s); i++ {
		if !cIsDigit(s[i]) {
			return false
		}
	}
	return true
}

// truncate is strncpy into a buffer of n bytes that keeps a terminator.
func truncate(s string, n int) string {
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if len(s) > n {
		return s[:n]
	}
	return s
}
