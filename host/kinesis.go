package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// NewKinesisClient builds the AWS Kinesis client from the kinesis {} block:
// the default credential chain and region unless the block sets them, and
// an HTTP client tuned for many shards.
//
// The SDK's own retryer is off: the host retries every call itself with the
// same iterator (throttling, 5xx, dropped connections), which the SDK
// cannot do for iterator-based reads.
func NewKinesisClient(ctx context.Context, kc KinesisConfig) (*kinesis.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if kc.Region != "" {
		opts = append(opts, awsconfig.WithRegion(kc.Region))
	} else if kc.Endpoint != "" {
		opts = append(opts, awsconfig.WithRegion("us-east-1"))
	}
	if kc.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(kc.AccessKeyID, kc.SecretAccessKey, kc.SessionToken)))
	}
	opts = append(opts, awsconfig.WithHTTPClient(newHTTPClient()), awsconfig.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	// newHTTPClient is buildable, so AWS_CA_BUNDLE and friends still apply.
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w (set region in the kinesis {} block or AWS_REGION)", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("no AWS region: set region in the kinesis {} block of config.hcl, or AWS_REGION")
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if kc.Endpoint != "" {
			o.BaseEndpoint = aws.String(kc.Endpoint)
		}
		o.HTTPClient = readOnlyBodyClient{o.HTTPClient}
		WithFastGetRecordsDecoder(o) // GetRecords bodies decoded by getrecords_decode.go, not smithy-go's generic JSON
	}), nil
}

// newHTTPClient returns an HTTP client with enough idle connections for many
// shards (the default 10 per host makes connections churn at 64 shards)
// and request bodies that hide WriteTo. The latter works around
// aws-sdk-go-v2#2737: net/http may still be draining a body through WriteTo
// when the SDK closes it, which kills the connection mid-response.
func newHTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 256
		tr.IdleConnTimeout = 90 * time.Second
		// Detect dead HTTP/2 connections (EFO subscriptions live on them).
		tr.HTTP2 = &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: 15 * time.Second}
	})
}

// readOnlyBodyClient hides WriteTo (and everything but Read and Close) on
// request bodies before they reach net/http.
type readOnlyBodyClient struct{ next kinesis.HTTPClient }

func (c readOnlyBodyClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r2 := r.Clone(r.Context())
		r2.Body = readCloser{r.Body}
		r = r2
	}
	return c.next.Do(r)
}

type readCloser struct{ rc io.ReadCloser }

func (b readCloser) Read(p []byte) (int, error) { return b.rc.Read(p) }
func (b readCloser) Close() error               { return b.rc.Close() }

// errClass is what the host does about a failed Kinesis call.
type errClass int

const (
	errRetry   errClass = iota // back off and call again with the same arguments
	errExpired                 // the shard iterator expired: get a new one from the last record read
	errFatal                   // retrying cannot help
)

// isThrottle reports whether err is Kinesis (or KMS) throttling.
func isThrottle(err error) bool {
	var (
		thr    *types.ProvisionedThroughputExceededException
		lim    *types.LimitExceededException
		kmsThr *types.KMSThrottlingException
	)
	return errors.As(err, &thr) || errors.As(err, &lim) || errors.As(err, &kmsThr)
}

// classify decides how to handle err from a Kinesis call.
func classify(err error) errClass {
	var (
		expired *types.ExpiredIteratorException
		thr     *types.ProvisionedThroughputExceededException
		lim     *types.LimitExceededException
		kmsThr  *types.KMSThrottlingException
		kmsUn   *types.KMSInvalidStateException
		intern  *types.InternalFailureException
		nf      *types.ResourceNotFoundException
		inuse   *types.ResourceInUseException
		resp    *smithyhttp.ResponseError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &expired):
		return errExpired
	case errors.As(err, &thr), errors.As(err, &lim), errors.As(err, &kmsThr), errors.As(err, &intern),
		errors.As(err, &nf), errors.As(err, &inuse), errors.As(err, &kmsUn):
		// ResourceNotFound: the stream may not exist yet (or is being
		// re-created); keep trying and say so in the log.
		return errRetry
	case errors.Is(err, context.DeadlineExceeded):
		return errRetry
	case errors.As(err, &resp) && (resp.HTTPStatusCode() >= 500 || resp.HTTPStatusCode() == 429):
		return errRetry
	case errors.As(err, &netErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return errRetry
	}
	msg := err.Error()
	var send *smithyhttp.RequestSendError
	if errors.As(err, &send) {
		return errRetry
	}
	for _, s := range []string{"use of closed network connection", "connection reset", "broken pipe", "EOF", "timeout", "Throttl",
		"InternalFailure", "ServiceUnavailable", "http2:", "stream error", "GOAWAY"} {
		if strings.Contains(msg, s) {
			return errRetry
		}
	}
	return errFatal
}

// isExpiredCheckpoint reports whether a GetShardIterator error means the
// starting sequence number is no longer in the stream (older than the
// retention period, or the stream was re-created).
func isExpiredCheckpoint(err error) bool {
	var ia *types.InvalidArgumentException
	return errors.As(err, &ia) && strings.Contains(ia.ErrorMessage(), "StartingSequenceNumber")
}

// jitter spreads d by ±20 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// retryBackoff is the host's policy for Kinesis calls: 200 ms doubling to
// 10 s, with jitter.
func retryBackoff(attempt int) time.Duration {
	return backoffDelay(200*time.Millisecond, 10*time.Second, attempt)
}

// listAllShards pages through ListShards. NextToken is sent without the
// stream name, as the API requires.
func listAllShards(ctx context.Context, api KinesisAPI, stream string, filter *types.ShardFilter) ([]types.Shard, error) {
	var out []types.Shard
	in := &kinesis.ListShardsInput{StreamName: aws.String(stream), ShardFilter: filter}
	for {
		page, err := api.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Shards...)
		if page.NextToken == nil || *page.NextToken == "" {
			return out, nil
		}
		in = &kinesis.ListShardsInput{NextToken: page.NextToken}
	}
}
