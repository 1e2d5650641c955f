package models

import (
	"math/rand/v2"
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
