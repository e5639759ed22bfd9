package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Error codes DynamoDB (and STS-style signing) use for bad credentials.
var credentialCodes = map[string]bool{
	"UnrecognizedClientException":         true,
	"InvalidSignatureException":           true,
	"IncompleteSignature":                 true,
	"IncompleteSignatureException":        true,
	"MissingAuthenticationToken":          true,
	"MissingAuthenticationTokenException": true,
	"InvalidClientTokenId":                true,
	"SignatureDoesNotMatch":               true,
	"ExpiredToken":                        true,
	"ExpiredTokenException":               true,
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// isNetwork reports a failure to reach the endpoint at all.
func isNetwork(err error) bool {
	var se *smithyhttp.RequestSendError
	var ne net.Error
	return errors.As(err, &se) || errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded)
}

// hint says how to fix a runtime failure, when it is a known kind.
func (st *state) hint(op string, err error) string {
	code := apiCode(err)
	switch {
	case code == "ResourceNotFoundException":
		return fmt.Sprintf(" (table %q is gone from %s; create it again)", st.table, st.where)
	case code == "AccessDeniedException":
		return fmt.Sprintf(" (grant dynamodb:%s on table %q)", op, st.table)
	case credentialCodes[code]:
		return " (the credentials were rejected)"
	}
	return ""
}

// unavailable wraps a failed runtime call so the host retries it.
func (st *state) unavailable(op string, key sdk.CheckpointKey, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return sdk.Unavailable(fmt.Errorf("dynamodb %s table %q key %s/%s: %w%s",
		op, st.table, Namespace(key.App, key.Stream), key.ShardID, err, st.hint(op, err)))
}

// corrupt reports an item this store cannot read. Retrying does not help.
func (st *state) corrupt(key sdk.CheckpointKey, err error) error {
	return fmt.Errorf("dynamodb table %q item namespace=%q shard_id=%q is not a checkpoint: %v; fix or delete the item",
		st.table, Namespace(key.App, key.Stream), key.ShardID, err)
}

// probeError turns a failed call in Configure into a ConfigError naming the
// setting to fix.
func (st *state) probeError(ctx context.Context, op string, err error, hasEndpoint, static bool) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	code := apiCode(err)
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound && hasEndpoint:
		return sdk.ConfigError("endpoint", "the host name in endpoint %s does not exist (%v); check the URL", st.where, err)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return sdk.ConfigError("region", "no DynamoDB endpoint for %s (%v); check the region name", st.where, err)
	case ctx.Err() != nil || (isNetwork(err) && code == ""):
		// Unreachable or stalled: not a configuration problem; the host
		// retries Configure with backoff.
		where, field := "in "+st.where, "region"
		if hasEndpoint {
			where, field = "at "+st.where, "endpoint"
		}
		return sdk.UnavailableAt(field, fmt.Errorf("cannot reach DynamoDB %s (%s): %v; retrying. If this persists, check that the server or emulator is running and the endpoint URL or region and the network (proxy settings)", where, op, err))
	case credentialCodes[code]:
		if static {
			return sdk.ConfigError("access_key_id", "DynamoDB at %s rejected the credentials (%s): %v; check access_key_id and secret_access_key", st.where, code, err)
		}
		return sdk.ConfigError("access_key_id", "DynamoDB at %s rejected the credentials from the default AWS credential chain (%s): %v; "+
			"check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE, or set access_key_id and secret_access_key", st.where, code, err)
	case code == "AccessDeniedException":
		return sdk.ConfigError("table", "not allowed to %s table %q in %s: %v; grant dynamodb:DescribeTable, GetItem, UpdateItem, Query, DeleteItem and PutItem on the table (and CreateTable for create_table = true)",
			op, st.table, st.where, err)
	case code == "" && hasEndpoint:
		return sdk.ConfigError("endpoint", "%s did not answer like DynamoDB: %v; check the endpoint URL", st.where, err)
	case code == "":
		return sdk.ConfigError("region", "cannot call DynamoDB in %s: %v; check the region name", st.where, err)
	}
	// Throttling, 5xx and the like: not a configuration problem.
	return sdk.Unavailable(fmt.Errorf("dynamodb %s table %q in %s: %w", op, st.table, st.where, err))
}
