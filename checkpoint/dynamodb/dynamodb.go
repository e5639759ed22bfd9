// Package dynamodb is the DynamoDB checkpoint store. It keeps one item per
// (app, stream, shard) in a table laid out like harlow/kinesis-consumer's
// store/ddb, so users who migrate keep their progress, and it fixes that
// store's flaws: every write happens at once (no one-minute buffer), every
// write is conditional so a checkpoint never moves backwards even with
// racing writers, a closed shard is recorded (shard_end), and a failed read
// is reported as a failure, never as "no checkpoint".
//
// Settings (config {} block):
//
//	table             = "kinesis_checkpoints" # default
//	region            = "us-east-1"   # default: AWS_REGION / AWS_DEFAULT_REGION / the
//	                                  # shared config profile; us-east-1 when endpoint is set
//	endpoint          = ""            # a local emulator such as "http://127.0.0.1:8000"; "" for AWS
//	create_table      = false         # create the table (PAY_PER_REQUEST) when it is missing
//	consistent_read   = true          # strongly consistent GetItem
//	access_key_id     = ""            # optional static credentials (for emulators);
//	secret_access_key = ""            # otherwise the default AWS credential chain
//
// Without access_key_id the store uses the default AWS credential chain:
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the shared files,
// web identity, SSO, ECS and EC2 instance roles. Secrets are never logged.
//
// # Table layout
//
// Partition key namespace (S) = "<app>-<stream>", sort key shard_id (S);
// the same key schema as the seed. Attributes:
//
//	sequence_number      S     the last sequence number done (as the seed writes it)
//	sub_sequence_number  N     the KPL sub-sequence number within it
//	shard_end            BOOL  the shard has been read to its end
//	owner                S     the lease owner (absent when the shard is unowned)
//	lease_counter        N     the lease counter (absent on items never leased: 0)
//	position             S     a sortable form of the position, used by the conditional write:
//	                           the sequence number zero-padded to 128 digits, ".", the
//	                           sub-sequence number zero-padded to 20 digits; "~" (after
//	                           every digit) for shard end
//
// The lease lives in the same item as the position (see Leases below). An
// item that holds a lease but no position (a shard taken but not yet
// checkpointed, or a host's worker row, whose shard_id starts with
// "kinesis-host-worker:") has no sequence_number, so seed readers see no
// checkpoint there and Get reports none. Seed readers read only
// sequence_number: the lease attributes do not concern them.
//
// An item written by the seed (namespace, shard_id, sequence_number only) is
// read as that sequence number, with no lease. The first write over it
// compares in the plugin and is conditional on the exact old
// sequence_number, so it is race free too; from then on the item has a
// position.
//
// To create the table yourself (on-demand capacity):
//
//	aws dynamodb create-table --table-name kinesis_checkpoints \
//	  --attribute-definitions AttributeName=namespace,AttributeType=S AttributeName=shard_id,AttributeType=S \
//	  --key-schema AttributeName=namespace,KeyType=HASH AttributeName=shard_id,KeyType=RANGE \
//	  --billing-mode PAY_PER_REQUEST
//
// # Writes
//
// Set is one UpdateItem whose ConditionExpression is
//
//	attribute_not_exists(namespace) OR position < :position
//
// A failed condition means the stored checkpoint is already at or past the
// new one (or the item is a seed item without position, handled as above);
// it is not an error. Sequence numbers have up to 128 digits, too many for
// a DynamoDB number (38 digits), and plain strings of different lengths do
// not sort as numbers; the padded position does. SetBatch issues up to 16
// conditional writes at a time (DynamoDB has no conditional batch write
// besides transactions, where one failed condition fails them all).
//
// A ShardEnd write without a sequence number keeps the stored
// sequence_number, so seed readers still see the shard's last position.
// Set writes the position only: owner and lease_counter keep what is
// stored.
//
// # Leases
//
// The store implements sdk.LeaseStore, so several hosts can share it.
// Every lease write is one UpdateItem (DeleteItem for a delete) whose
// ConditionExpression requires the stored owner and lease_counter to be
// the expected ones (a missing attribute, or a missing item, counting as
// no owner and 0), and which sets owner (REMOVE for none), lease_counter
// = expected + 1 and, for a checkpoint, the position:
//
//	<lease condition> AND ((attribute_not_exists(position) AND
//	    attribute_not_exists(sequence_number)) OR position < :position)
//
// When that fails, the item it failed on (returned by DynamoDB with the
// failure, ReturnValuesOnConditionCheckFailure = ALL_OLD; read with a
// consistent GetItem from emulators that do not return it) tells why: a
// lease held by another is a conflict (one write in all); a position at or
// past ours gets a second write of the lease alone, conditional on the
// lease and on that exact position (or, on a seed item, its
// sequence_number), so nothing is ever written on a stale read. The
// updates of a batch run concurrently, at most 16 at a time, and those of
// one item in order. ListLeases is a Query of the stream's namespace (one
// round trip per 1 MB page), strongly consistent unless consistent_read =
// false.
//
// A rewind (sdk.LeaseUpdate.Rewind, `kinesis-host rewind -apply`) is one
// UpdateItem conditional on the lease alone: it SETs position, shard_end,
// sequence_number (what seed readers read) and sub_sequence_number to
// exactly the given position, backwards too (REMOVE of sequence_number and
// sub_sequence_number for a ShardEnd without one), or REMOVEs all four to
// clear it.
//
// Throttling, 5xx answers and network failures are retried briefly by the
// AWS SDK and then returned as sdk.Unavailable, so the host retries with
// backoff and keeps the latest position. Every call is bounded by the
// caller's context, which the sdk sets to half of the host's call_timeout,
// so a stalled endpoint is answered "unavailable" long before the host
// would count the plugin as hung. Configure likewise answers
// sdk.Unavailable when the endpoint cannot be reached or does not answer
// in time (the host retries it), and a ConfigError for settings that are
// wrong (an unknown host name, rejected credentials, a missing table).
//
// # IAM
//
// The credentials need, on the table's ARN:
//
//	dynamodb:DescribeTable   (at start, to check the table and its key schema)
//	dynamodb:GetItem
//	dynamodb:UpdateItem
//	dynamodb:Query           (leases: list a stream's items)
//	dynamodb:DeleteItem      (leases: remove a host's worker item)
//	dynamodb:PutItem         (not used today; grant it so later versions can)
//	dynamodb:CreateTable     (only with create_table = true)
//
// Note that the namespace "<app>-<stream>" is the seed's: app "a-b" with
// stream "c" shares items with app "a" and stream "b-c". Choose app names
// without "-" at the end or streams that keep them apart.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Defaults.
const (
	DefaultTable = "kinesis_checkpoints"
	// EmulatorRegion is used when an endpoint is set and no region is
	// configured anywhere.
	EmulatorRegion = "us-east-1"
)

// Timeouts and limits.
const (
	// probeTimeout bounds Configure's checks (credentials, DescribeTable)
	// so a wrong endpoint or region fails fast.
	probeTimeout = 10 * time.Second
	// probeAttempts is how many times the SDK tries each call in Configure.
	probeAttempts = 2
	// createTimeout bounds waiting for a new table to become ACTIVE.
	createTimeout = 3 * time.Minute
	// opTimeout bounds a Get or Set when the caller's ctx has no deadline.
	opTimeout = 30 * time.Second
	// dialTimeout for new connections.
	dialTimeout = 3 * time.Second
	// batchParallelism bounds concurrent writes in SetBatch.
	batchParallelism = 16
	// maxSetAttempts bounds the compare-and-retry loop of one Set, which
	// only repeats when other writers change the item in between.
	maxSetAttempts = 8
)

// Settings is the store's config {} block.
type Settings struct {
	Table           string `json:"table"`
	Region          string `json:"region"`
	Endpoint        string `json:"endpoint"`
	CreateTable     bool   `json:"create_table"`
	AccessKeyID     string `json:"access_key_id"`
	SecretAccessKey string `json:"secret_access_key"`
	ConsistentRead  *bool  `json:"consistent_read"`
}

// Store is the DynamoDB sdk.Store; it also implements sdk.Configurer,
// sdk.BatchStore, sdk.LeaseStore and sdk.Closer. Use New, then Configure.
type Store struct {
	st atomic.Pointer[state]
}

// state is one configured connection.
type state struct {
	client     *dynamodb.Client
	transport  *http.Transport
	table      string
	consistent bool
	where      string // "region us-east-1" or "http://127.0.0.1:8000", for messages
}

// New returns an unconfigured store.
func New() *Store { return &Store{} }

var (
	tableName  = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	regionName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
)

// Configure implements sdk.Configurer. It checks the settings; unless
// validating only it also checks the credentials and the table (creating
// it with create_table = true) and fails fast, with a ConfigError naming
// the setting to fix, when the endpoint, region or credentials are wrong.
func (s *Store) Configure(ctx context.Context, cfg sdk.Config) error {
	var set Settings
	if err := cfg.Decode(&set); err != nil {
		return err
	}
	if set.Table == "" {
		set.Table = DefaultTable
	}
	if !tableName.MatchString(set.Table) {
		return sdk.ConfigError("table", "%q is not a DynamoDB table name: 3 to 255 letters, digits, '_', '-' or '.'", set.Table)
	}
	if set.Endpoint != "" {
		u, err := url.Parse(set.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return sdk.ConfigError("endpoint", "must be a URL such as \"http://127.0.0.1:8000\" (or \"\" for AWS), got %q", set.Endpoint)
		}
	}
	if set.Region != "" && !regionName.MatchString(set.Region) {
		return sdk.ConfigError("region", "%q is not an AWS region name such as \"us-east-1\"", set.Region)
	}
	static := set.AccessKeyID != "" || set.SecretAccessKey != ""
	switch {
	case set.AccessKeyID == "" && set.SecretAccessKey != "":
		return sdk.ConfigError("access_key_id", "is empty while secret_access_key is set; set both (for an emulator any values do) or neither to use the default AWS credential chain")
	case set.AccessKeyID != "" && set.SecretAccessKey == "":
		return sdk.ConfigError("secret_access_key", "is empty while access_key_id is set; set both (for an emulator any values do) or neither to use the default AWS credential chain")
	}

	hc := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = dialTimeout }).
		WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = 4 * batchParallelism })
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				// The host retries with its own backoff; the SDK's retry
				// quota would only turn throttling into hard failures.
				o.RateLimiter = ratelimit.None
				o.MaxBackoff = 2 * time.Second
			})
		}),
	}
	if set.Region != "" {
		opts = append(opts, config.WithRegion(set.Region))
	}
	if static {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(set.AccessKeyID, set.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return sdk.ConfigError("", "cannot load the AWS configuration (check AWS_PROFILE, AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CA_BUNDLE): %v", err)
	}
	if awsCfg.Region == "" {
		if set.Endpoint == "" {
			return sdk.ConfigError("region", "no AWS region is set; set region = \"us-east-1\" (the table's region) or AWS_REGION")
		}
		awsCfg.Region = EmulatorRegion
	}
	// Own the transport (AWS_CA_BUNDLE and the dialer settings applied) so
	// Close can drop its connections.
	tr := hc.GetTransport()
	if b, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = b.GetTransport()
	}
	awsCfg.HTTPClient = &http.Client{
		Transport: tr,
		// DynamoDB does not redirect; never replay a signed request elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	st := &state{
		transport:  tr,
		table:      set.Table,
		consistent: set.ConsistentRead == nil || *set.ConsistentRead,
		where:      "region " + awsCfg.Region,
	}
	if set.Endpoint != "" {
		st.where = set.Endpoint
	}
	st.client = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		if set.Endpoint != "" {
			o.BaseEndpoint = aws.String(set.Endpoint)
		}
	})
	if err := st.checkCredentials(ctx, awsCfg.Credentials, static); err != nil {
		return err
	}
	if cfg.ValidateOnly {
		// validate: reach the table, change nothing (with create_table the
		// table may legitimately not exist yet).
		if err := st.checkTable(ctx, false, set.Endpoint != "", static); err != nil {
			if set.CreateTable {
				return nil // not created yet: nothing to check, nothing to list
			}
			return err
		}
		// Kept for read-only calls (validate lists the leases).
		if old := s.st.Swap(st); old != nil {
			old.close()
		}
		return nil
	}
	if err := st.checkTable(ctx, set.CreateTable, set.Endpoint != "", static); err != nil {
		return err
	}
	creds := "default AWS credential chain"
	if static {
		creds = "static access_key_id"
	}
	sdk.Logger().Info("dynamodb checkpoint store ready", "checkpoint", cfg.Name, "table", st.table,
		"where", st.where, "credentials", creds, "consistent_read", st.consistent)
	if old := s.st.Swap(st); old != nil {
		old.close()
	}
	return nil
}

func (st *state) close() {
	st.transport.CloseIdleConnections()
}

// probeCtx bounds one of Configure's checks.
func probeCtx(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

func probeOpts(o *dynamodb.Options) { o.RetryMaxAttempts = probeAttempts }

// checkCredentials resolves the credentials once, so a missing or broken
// credential source is reported as such rather than as a failed call.
func (st *state) checkCredentials(ctx context.Context, p aws.CredentialsProvider, static bool) error {
	if static || p == nil {
		return nil
	}
	cctx, cancel := probeCtx(ctx, probeTimeout)
	defer cancel()
	if _, err := p.Retrieve(cctx); err != nil {
		if ctx.Err() != nil {
			return sdk.Unavailable(fmt.Errorf("resolving AWS credentials: %w", err))
		}
		return sdk.ConfigError("access_key_id", "no usable AWS credentials from the default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, SSO, web identity, instance role): %v; "+
			"fix the credential source, or for a local emulator set access_key_id and secret_access_key to any values", err)
	}
	return nil
}

// checkTable makes sure the table exists (creating it if asked), is
// usable and has the expected key schema.
func (st *state) checkTable(ctx context.Context, create, hasEndpoint, static bool) error {
	pctx, cancel := probeCtx(ctx, probeTimeout)
	defer cancel()
	out, err := st.client.DescribeTable(pctx, &dynamodb.DescribeTableInput{TableName: aws.String(st.table)}, probeOpts)
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		if !create {
			return sdk.ConfigError("table", "table %q does not exist in %s; create it (partition key namespace (S), sort key shard_id (S)) or set create_table = true", st.table, st.where)
		}
		return st.createTable(ctx, hasEndpoint, static)
	case err != nil:
		return st.probeError(ctx, "DescribeTable", err, hasEndpoint, static)
	}
	if err := checkSchema(st.table, out.Table); err != nil {
		return err
	}
	switch out.Table.TableStatus {
	case types.TableStatusDeleting:
		return sdk.ConfigError("table", "table %q in %s is being deleted; wait and create it again, or set create_table = true", st.table, st.where)
	case types.TableStatusCreating:
		return st.waitActive(ctx, hasEndpoint, static)
	}
	return nil
}

// checkSchema reports a table whose keys are not (namespace S, shard_id S).
func checkSchema(table string, td *types.TableDescription) error {
	if td == nil {
		return sdk.ConfigError("table", "DescribeTable returned no description for table %q", table)
	}
	attrType := map[string]types.ScalarAttributeType{}
	for _, a := range td.AttributeDefinitions {
		attrType[aws.ToString(a.AttributeName)] = a.AttributeType
	}
	var hash, rng string
	var have []string
	for _, k := range td.KeySchema {
		name := aws.ToString(k.AttributeName)
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = name
			have = append(have, fmt.Sprintf("partition key %s (%s)", name, attrType[name]))
		case types.KeyTypeRange:
			rng = name
			have = append(have, fmt.Sprintf("sort key %s (%s)", name, attrType[name]))
		}
	}
	if hash == attrNamespace && rng == attrShardID &&
		attrType[attrNamespace] == types.ScalarAttributeTypeS && attrType[attrShardID] == types.ScalarAttributeTypeS {
		return nil
	}
	return sdk.ConfigError("table", "table %q has %s, but checkpoints need partition key namespace (S) and sort key shard_id (S); "+
		"point table at a table with that key schema, or name a new one and set create_table = true", table, strings.Join(have, ", "))
}

func (st *state) createTable(ctx context.Context, hasEndpoint, static bool) error {
	pctx, cancel := probeCtx(ctx, probeTimeout)
	defer cancel()
	_, err := st.client.CreateTable(pctx, &dynamodb.CreateTableInput{
		TableName: aws.String(st.table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrNamespace), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrShardID), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrNamespace), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrShardID), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}, probeOpts)
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		// Another host created it meanwhile: wait for it like ours.
	case err != nil:
		return st.probeError(ctx, "CreateTable", err, hasEndpoint, static)
	default:
		sdk.Logger().Info("created checkpoint table", "table", st.table, "where", st.where)
	}
	if err := st.waitActive(ctx, hasEndpoint, static); err != nil {
		return err
	}
	// Check the schema of what is there (a concurrent creator may have
	// used another one).
	pctx2, cancel2 := probeCtx(ctx, probeTimeout)
	defer cancel2()
	out, err := st.client.DescribeTable(pctx2, &dynamodb.DescribeTableInput{TableName: aws.String(st.table)}, probeOpts)
	if err != nil {
		return st.probeError(ctx, "DescribeTable", err, hasEndpoint, static)
	}
	return checkSchema(st.table, out.Table)
}

func (st *state) waitActive(ctx context.Context, hasEndpoint, static bool) error {
	wctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	delay := 50 * time.Millisecond
	for {
		pctx, pcancel := probeCtx(wctx, probeTimeout)
		out, err := st.client.DescribeTable(pctx, &dynamodb.DescribeTableInput{TableName: aws.String(st.table)}, probeOpts)
		pcancel()
		var notFound *types.ResourceNotFoundException
		switch {
		case err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive:
			return nil
		case err == nil && out.Table != nil && out.Table.TableStatus == types.TableStatusDeleting:
			return sdk.ConfigError("table", "table %q in %s was deleted while waiting for it to become ACTIVE", st.table, st.where)
		case err != nil && !errors.As(err, &notFound):
			return st.probeError(wctx, "DescribeTable", err, hasEndpoint, static)
		}
		select {
		case <-wctx.Done():
			if ctx.Err() != nil {
				return sdk.Unavailable(fmt.Errorf("table %q in %s is not ACTIVE yet: %w; retrying", st.table, st.where, ctx.Err()))
			}
			return sdk.ConfigError("table", "table %q in %s did not become ACTIVE within %s; check it in the console, then start again", st.table, st.where, createTimeout)
		case <-time.After(delay):
		}
		if delay < 2*time.Second {
			delay *= 2
		}
	}
}

// Get implements sdk.Store. A missing item is (zero, false, nil); any
// failure is an sdk.Unavailable error, never "no checkpoint".
func (s *Store) Get(ctx context.Context, key sdk.CheckpointKey) (sdk.Checkpoint, bool, error) {
	st, err := s.state()
	if err != nil {
		return sdk.Checkpoint{}, false, err
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	item, err := st.getItem(ctx, key, st.consistent)
	if err != nil {
		return sdk.Checkpoint{}, false, err
	}
	if item == nil {
		return sdk.Checkpoint{}, false, nil
	}
	cp, found, err := decodeItem(item)
	if err != nil {
		return sdk.Checkpoint{}, false, st.corrupt(key, err)
	}
	return cp, found, nil
}

// Set implements sdk.Store: a conditional write that never moves the
// checkpoint backwards. Losing the race to a later position is not an
// error.
func (s *Store) Set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	st, err := s.state()
	if err != nil {
		return err
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	return st.set(ctx, key, cp)
}

// SetBatch implements sdk.BatchStore: the conditional writes run
// concurrently, at most 16 at a time; one error per update, in order.
func (s *Store) SetBatch(ctx context.Context, updates []sdk.CheckpointUpdate) []error {
	errs := make([]error, len(updates))
	st, err := s.state()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	if len(updates) == 1 {
		errs[0] = st.set(ctx, updates[0].Key, updates[0].Checkpoint)
		return errs
	}
	sem := make(chan struct{}, batchParallelism)
	var wg sync.WaitGroup
	for i := range updates {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = st.set(ctx, updates[i].Key, updates[i].Checkpoint)
		}()
	}
	wg.Wait()
	return errs
}

// Close implements sdk.Closer.
func (s *Store) Close(ctx context.Context) error {
	if st := s.st.Swap(nil); st != nil {
		st.close()
	}
	return nil
}

var errNotConfigured = errors.New("dynamodb checkpoint store is not configured (no Configure call)")

func (s *Store) state() (*state, error) {
	st := s.st.Load()
	if st == nil {
		return nil, errNotConfigured
	}
	return st, nil
}

func opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, opTimeout)
}

func (st *state) getItem(ctx context.Context, key sdk.CheckpointKey, consistent bool) (map[string]types.AttributeValue, error) {
	out, err := st.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(st.table),
		Key:            itemKey(key),
		ConsistentRead: aws.Bool(consistent),
	})
	if err != nil {
		return nil, st.unavailable("GetItem", key, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// set is the conditional write with its fallback for items that have no
// position yet (written by the seed).
func (st *state) set(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint) error {
	pos, err := position(cp)
	if err != nil {
		return fmt.Errorf("checkpoint %s/%s not written: %w", key.Stream, key.ShardID, err)
	}
	for attempt := 0; attempt < maxSetAttempts; attempt++ {
		err := st.update(ctx, key, cp, pos, nil)
		if err == nil || !isConditionFailed(err) {
			return err
		}
		// The item exists and either is at or past cp, or has no position.
		item, err := st.getItem(ctx, key, true)
		if err != nil {
			return err
		}
		if item == nil {
			continue // deleted meanwhile: write again
		}
		if av, ok := item[attrPosition]; ok {
			stored, ok := av.(*types.AttributeValueMemberS)
			if !ok {
				return st.corrupt(key, fmt.Errorf("attribute %s is not a string", attrPosition))
			}
			if stored.Value >= pos {
				return nil // already at or past cp
			}
			continue // a seed item was converted meanwhile, to an earlier position
		}
		// A seed item: compare here, write only if it still holds what we read.
		old, _, err := decodeItem(item)
		if err != nil {
			return st.corrupt(key, err)
		}
		if sdk.ComparePosition(old, cp) >= 0 {
			return nil
		}
		err = st.update(ctx, key, cp, pos, &legacyGuard{seq: item[attrSequence]})
		if err == nil || !isConditionFailed(err) {
			return err
		}
	}
	return sdk.Unavailable(fmt.Errorf("dynamodb checkpoint %s/%s in table %q: item kept changing under %d conditional writes; will retry",
		key.Stream, key.ShardID, st.table, maxSetAttempts))
}

// legacyGuard makes a write conditional on an item without position still
// holding the sequence_number seq (nil: no sequence_number).
type legacyGuard struct{ seq types.AttributeValue }

// update writes cp with one UpdateItem. Without guard the condition is
// "no item, or an earlier position"; with guard it is the seed-item check.
func (st *state) update(ctx context.Context, key sdk.CheckpointKey, cp sdk.Checkpoint, pos string, guard *legacyGuard) error {
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	// The position only: the lease attributes keep what is stored.
	expr := "SET " + strings.Join(positionSets(names, values, cp, pos), ", ")
	var cond string
	switch {
	case guard == nil:
		cond = "attribute_not_exists(#ns) OR #pos < :pos"
		names["#ns"] = attrNamespace
	case guard.seq == nil:
		cond = "attribute_not_exists(#pos) AND attribute_not_exists(#seq)"
		names["#seq"] = attrSequence
	default:
		cond = "attribute_not_exists(#pos) AND #seq = :old"
		names["#seq"] = attrSequence
		values[":old"] = guard.seq
	}
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(st.table),
		Key:                       itemKey(key),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err == nil || isConditionFailed(err) {
		return err
	}
	return st.unavailable("UpdateItem", key, err)
}

// positionSets returns the SET clauses that store cp's position (pos its
// sortable form) and fills in their names and values. A ShardEnd write
// without a sequence number keeps the stored sequence_number (and its
// sub-sequence number): seed readers know nothing of shard_end and must
// still see the shard's last position.
func positionSets(names map[string]string, values map[string]types.AttributeValue, cp sdk.Checkpoint, pos string) []string {
	names["#pos"], names["#end"] = attrPosition, attrShardEnd
	values[":pos"] = &types.AttributeValueMemberS{Value: pos}
	values[":end"] = &types.AttributeValueMemberBOOL{Value: cp.ShardEnd}
	sets := []string{"#pos = :pos", "#end = :end"}
	if cp.SequenceNumber != "" {
		sets = append(sets, "#seq = :seq", "#sub = :sub")
		names["#seq"], names["#sub"] = attrSequence, attrSubSequence
		values[":seq"] = &types.AttributeValueMemberS{Value: cp.SequenceNumber}
		values[":sub"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(cp.SubSequenceNumber, 10)}
	}
	return sets
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}
