package kinesisfake

import (
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// FaultFunc decides whether an API call fails. It gets the op name
// (OpListShards, OpGetShardIterator or OpGetRecords) and the call's input
// (*kinesis.ListShardsInput and so on; read it, don't change it). A non-nil
// error is returned to the caller instead of running the call, wrapped in a
// *smithy.OperationError unless it already is one.
//
// A FaultFunc runs without the Fake's lock held, possibly on several
// goroutines at once, so it must be safe for concurrent use. It may call
// the Fake.
type FaultFunc func(op string, in any) error

type hook struct {
	id uint64
	fn FaultFunc
}

// InjectFault adds fn to the fault hooks, which run in the order they were
// added before every API call, after the call has been counted and after a
// done context has been reported. The first hook to return an error wins;
// later hooks don't see that call. The returned function removes fn again
// (calling it more than once is harmless). A nil fn is ignored.
func (f *Fake) InjectFault(fn FaultFunc) (remove func()) {
	if fn == nil {
		return func() {}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hookID++
	id := f.hookID
	// Copy on write: begin reads f.hooks without the lock after copying
	// the slice header.
	hooks := make([]hook, len(f.hooks), len(f.hooks)+1)
	copy(hooks, f.hooks)
	f.hooks = append(hooks, hook{id: id, fn: fn})
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		kept := make([]hook, 0, len(f.hooks))
		for _, h := range f.hooks {
			if h.id != id {
				kept = append(kept, h)
			}
		}
		f.hooks = kept
	}
}

// ClearFaults removes every fault hook, including those added by FailEvery,
// FailRatio and FailNext.
func (f *Fake) ClearFaults() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hooks = nil
}

// opMatches reports whether a helper set up for want applies to op. An
// empty want means every op.
func opMatches(want, op string) bool { return want == "" || want == op }

// FailEvery makes every n-th call of op fail (calls n, 2n, 3n, ... counted
// from when the hook was added) with an error made by mk, such as
// [Throttle]. An empty op means every operation, counted together. n < 1
// is treated as 1. It returns a function that removes the hook.
func (f *Fake) FailEvery(op string, n int, mk func() error) (remove func()) {
	if n < 1 {
		n = 1
	}
	var mu sync.Mutex
	seen := 0
	return f.InjectFault(func(got string, _ any) error {
		if !opMatches(op, got) {
			return nil
		}
		mu.Lock()
		seen++
		fail := seen%n == 0
		mu.Unlock()
		if fail {
			return mk()
		}
		return nil
	})
}

// FailRatio makes about ratio (0 to 1) of the calls of op fail with an error
// made by mk: FailRatio(OpGetRecords, 0.2, 1, Throttle) throttles 20% of
// GetRecords calls. The choice comes from a PRNG seeded with seed, so a
// test that makes its calls in a fixed order sees the same failures on
// every run. An empty op means every operation. It returns a function that
// removes the hook.
func (f *Fake) FailRatio(op string, ratio float64, seed int64, mk func() error) (remove func()) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6b66616b65)) // "kfake"
	return f.InjectFault(func(got string, _ any) error {
		if !opMatches(op, got) {
			return nil
		}
		mu.Lock()
		fail := rng.Float64() < ratio
		mu.Unlock()
		if fail {
			return mk()
		}
		return nil
	})
}

// FailNext makes the next count calls of op fail with an error made by mk,
// then lets calls through again. An empty op means every operation. It
// returns a function that removes the hook early.
func (f *Fake) FailNext(op string, count int, mk func() error) (remove func()) {
	var mu sync.Mutex
	left := count
	return f.InjectFault(func(got string, _ any) error {
		if !opMatches(op, got) {
			return nil
		}
		mu.Lock()
		fail := left > 0
		if fail {
			left--
		}
		mu.Unlock()
		if fail {
			return mk()
		}
		return nil
	})
}

// Calls returns how many times op has been called since the Fake was made
// or ResetCalls was last called. Every call counts, including those that
// failed, whether by fault injection, a done context or a bad request.
func (f *Fake) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// ResetCalls sets every call counter back to zero.
func (f *Fake) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.calls)
}

// Throttle returns the error Kinesis gives when a shard's or account's read
// limit is exceeded: *types.ProvisionedThroughputExceededException.
func Throttle() error {
	return &types.ProvisionedThroughputExceededException{Message: aws.String(
		"Rate exceeded for shard in stream under account " + AccountID + ". (injected by kinesisfake)")}
}

// Expired returns *types.ExpiredIteratorException, as if the iterator used
// had outlived its five minutes.
func Expired() error {
	return &types.ExpiredIteratorException{Message: aws.String(
		"Iterator expired. (injected by kinesisfake)")}
}

// Internal returns *types.InternalFailureException, a server-side failure
// worth retrying.
func Internal() error {
	return &types.InternalFailureException{Message: aws.String(
		"Internal service failure. (injected by kinesisfake)")}
}

// KMSThrottling returns *types.KMSThrottlingException, which Kinesis gives
// when KMS throttles decryption for an encrypted stream.
func KMSThrottling() error {
	return &types.KMSThrottlingException{Message: aws.String(
		"Rate exceeded for KMS key. (injected by kinesisfake)")}
}

// LimitExceeded returns *types.LimitExceededException, which Kinesis gives
// for too many control-plane calls such as ListShards.
func LimitExceeded() error {
	return &types.LimitExceededException{Message: aws.String(
		"Rate exceeded for stream under account " + AccountID + ". (injected by kinesisfake)")}
}

// ConnReset returns an error like the one the SDK's HTTP client sees when
// the connection drops: a *net.OpError for a TCP read whose cause is an
// *os.SyscallError holding syscall.ECONNRESET, so both
// errors.As(err, new(*net.OpError)) and errors.Is(err, syscall.ECONNRESET)
// hold.
func ConnReset() error {
	return &net.OpError{
		Op:     "read",
		Net:    "tcp",
		Source: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 49152},
		Addr:   &net.TCPAddr{IP: net.IPv4(52, 94, 0, 1), Port: 443},
		Err:    os.NewSyscallError("read", syscall.ECONNRESET),
	}
}
