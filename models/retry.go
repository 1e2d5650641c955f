package models

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy is the fixed exponential schedule of SPEC "Delivery".
type RetryPolicy struct {
	Base  time.Duration
	Max   time.Duration
	Count int
}

// Next returns when to try again after the n-th scheduled attempt (1-based) failed at t, or
// false when the retries are used up. The n-th retry comes Base×2^(n-1) after the previous
// attempt, at most Max, shortened by up to 10 % so that it is never later than the schedule.
func (p RetryPolicy) Next(n int, t time.Time) (time.Time, bool) {
	if n > p.Count {
		return time.Time{}, false
	}
	gap := p.Max
	if n-1 < 40 {
		if g := p.Base << (n - 1); g > 0 && g < p.Max {
			gap = g
		}
	}
	jitter := time.Duration(rand.Float64() * 0.1 * float64(gap))
	return t.Add(gap - jitter), true
}

// MaxRetryAfter caps how much later than the schedule a receiver's Retry-After may put the
// next attempt.
const MaxRetryAfter = 2 * time.Hour

// RetryAfter reads what a receiver that answered 429 or 503 asked for in Retry-After (delay
// seconds or an HTTP date), as a wait from at. Other answers, and a header that cannot be read
// or asks for nothing, give false.
func RetryAfter(status int, h http.Header, at time.Time) (time.Duration, bool) {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0, false
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, false
		}
		return time.Duration(min(secs, int64(10*MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil && t.After(at) {
		return t.Sub(at), true
	}
	return 0, false
}

// Honour returns when to try again when the schedule says sched and the receiver asked for
// asked: the later of the two, but at most MaxRetryAfter after the schedule.
func Honour(sched, asked time.Time) time.Time {
	if !asked.After(sched) {
		return sched
	}
	if limit := sched.Add(MaxRetryAfter); asked.After(limit) {
		return limit
	}
	return asked
}
