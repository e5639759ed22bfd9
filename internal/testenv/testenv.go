// Package testenv holds helpers for tests that need the local stand-ins for
// AWS and the project's databases:
//
//   - StartKinesalite, StartDynalite and StartKinesisMock start a fresh
//     emulator process (node) on a free 127.0.0.1 port for one test and stop
//     it in t.Cleanup. LaunchKinesalite, LaunchDynalite and LaunchKinesisMock
//     do the same for TestMain, returning a stop function.
//   - KinesisClient and DynamoClient build SDK clients for such an endpoint.
//   - CreateStream creates a stream and waits until it is ACTIVE.
//   - RedisAddr and PostgresDSN name the shared Redis and PostgreSQL servers
//     (scripts/ensure-services.sh makes sure they answer).
//
// The emulators are npm packages installed by scripts/install-emulators.sh
// into .tools/node (make test runs it). When they are missing the helpers
// fail the test rather than skip it: a missing emulator is a broken setup,
// not a reason to pass.
//
// Which Kinesis emulator to use: kinesalite is fast and good for most tests;
// kinesis-local (kinesis-mock) is slow but models resharding (ChildShards,
// UpdateShardCount, ListShards paging and ShardFilter). Keep streams small
// with kinesis-local. Neither does enhanced fan-out or throttling.
package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// ModulePath is the module whose root RepoRoot looks for.
const ModulePath = "github.com/kinesis-host/kinesis-host"

// Region is the region the test clients use.
const Region = "us-east-1"

// Dummy credentials for the emulators. kinesis-local maps any key that is not
// a 12-digit number to account 000000000000.
const (
	dummyAccessKey = "AKIDTESTENV"
	dummySecretKey = "testenv-secret"
)

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// RepoRoot returns the repository root: the nearest directory, walking up
// from the working directory (or, failing that, from this source file), that
// holds the go.mod of ModulePath. It panics if there is none.
func RepoRoot() string {
	rootOnce.Do(func() {
		var starts []string
		if wd, err := os.Getwd(); err == nil {
			starts = append(starts, wd)
		}
		if _, file, _, ok := runtime.Caller(0); ok {
			starts = append(starts, filepath.Dir(file))
		}
		for _, s := range starts {
			if d, ok := findModuleRoot(s); ok {
				rootDir = d
				return
			}
		}
		rootErr = fmt.Errorf("testenv: no go.mod for module %s above %v", ModulePath, starts)
	})
	if rootErr != nil {
		panic(rootErr)
	}
	return rootDir
}

func findModuleRoot(dir string) (string, bool) {
	dir = filepath.Clean(dir)
	for {
		if isOurGoMod(filepath.Join(dir, "go.mod")) {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isOurGoMod(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`) == ModulePath
		}
	}
	return false
}

// RedisAddr is $REDIS_ADDR, or 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// PostgresDSN is $PG_DSN, or the local trust-auth server as user postgres.
func PostgresDSN() string {
	if d := os.Getenv("PG_DSN"); d != "" {
		return d
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func staticCreds() aws.CredentialsProvider {
	return credentials.NewStaticCredentialsProvider(dummyAccessKey, dummySecretKey, "")
}

// KinesisClient returns a Kinesis client for an emulator endpoint such as
// http://127.0.0.1:4567, with dummy static credentials and region us-east-1.
// It reads no environment or shared AWS config.
func KinesisClient(endpoint string, optFns ...func(*kinesis.Options)) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  staticCreds(),
	}, optFns...)
}

// DynamoClient returns a DynamoDB client for an emulator endpoint such as
// http://127.0.0.1:8000, with dummy static credentials and region us-east-1.
func DynamoClient(endpoint string, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  staticCreds(),
	}, optFns...)
}

// StreamCreator is the part of the Kinesis API CreateStream uses;
// *kinesis.Client satisfies it.
type StreamCreator interface {
	CreateStream(ctx context.Context, in *kinesis.CreateStreamInput, optFns ...func(*kinesis.Options)) (*kinesis.CreateStreamOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, optFns ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

// CreateStream creates a provisioned stream with the given shard count and
// waits until it is ACTIVE. A stream that already exists is waited for, not
// an error. Without a deadline on ctx it gives up after 30 seconds.
func CreateStream(ctx context.Context, client StreamCreator, name string, shards int32) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	_, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	return WaitStreamActive(ctx, client, name)
}

// WaitStreamActive polls DescribeStreamSummary until the stream is ACTIVE.
func WaitStreamActive(ctx context.Context, client StreamCreator, name string) error {
	delay := 20 * time.Millisecond
	for {
		out, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		switch {
		case err == nil && out.StreamDescriptionSummary != nil &&
			out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive:
			return nil
		case err != nil && !errors.As(err, &notFound):
			if ctx.Err() != nil {
				return fmt.Errorf("wait for stream %s ACTIVE: %w", name, ctx.Err())
			}
			return fmt.Errorf("describe stream %s: %w", name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for stream %s ACTIVE: %w", name, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 250*time.Millisecond {
			delay *= 2
		}
	}
}
