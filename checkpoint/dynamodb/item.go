package dynamodb

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/sdk"
)

// Attribute names. namespace, shard_id and sequence_number are the seed's.
const (
	attrNamespace    = "namespace"
	attrShardID      = "shard_id"
	attrSequence     = "sequence_number"
	attrSubSequence  = "sub_sequence_number"
	attrShardEnd     = "shard_end"
	attrOwner        = "owner"
	attrLeaseCounter = "lease_counter"
	attrPosition     = "position"
)

const (
	seqDigits = 128 // longest sequence number
	subDigits = 20  // longer than any int64
	// shardEndPosition sorts after every padded sequence number ('~' >
	// '9'), and all shard ends are equal, as in sdk.ComparePosition.
	shardEndPosition = "~"
)

// Namespace is the partition key value for an app and stream, as the seed
// writes it.
func Namespace(app, stream string) string { return app + "-" + stream }

func itemKey(k sdk.CheckpointKey) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrNamespace: &types.AttributeValueMemberS{Value: Namespace(k.App, k.Stream)},
		attrShardID:   &types.AttributeValueMemberS{Value: k.ShardID},
	}
}

// position is the sortable string form of cp: byte order of positions is
// sdk.ComparePosition order. It rejects checkpoints that cannot be stored.
func position(cp sdk.Checkpoint) (string, error) {
	if cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
		return "", fmt.Errorf("invalid sequence number %q: want 1 to %d decimal digits", cp.SequenceNumber, seqDigits)
	}
	if cp.SubSequenceNumber < 0 && cp.SubSequenceNumber != sdk.SubSequenceAt {
		return "", fmt.Errorf("invalid sub-sequence number %d: must not be negative (except %d, a rewound position)", cp.SubSequenceNumber, sdk.SubSequenceAt)
	}
	if cp.ShardEnd {
		return shardEndPosition, nil
	}
	if cp.SequenceNumber == "" {
		return "", errors.New("empty checkpoint: no sequence number and not shard end")
	}
	seq := strings.TrimLeft(cp.SequenceNumber, "0")
	sub := strconv.FormatInt(cp.SubSequenceNumber, 10)
	if cp.SubSequenceNumber == sdk.SubSequenceAt {
		// ".-000…" sorts before ".000…" ('-' < '0'): just before the
		// record itself, after every earlier sequence number.
		sub = "-" + strings.Repeat("0", subDigits-1)
	}
	var b strings.Builder
	b.Grow(seqDigits + 1 + subDigits)
	b.WriteString(strings.Repeat("0", seqDigits-len(seq)))
	b.WriteString(seq)
	b.WriteByte('.')
	b.WriteString(strings.Repeat("0", subDigits-len(sub)))
	b.WriteString(sub)
	return b.String(), nil
}

// decodeItem reads a checkpoint item, ours or the seed's (which has only
// sequence_number, a string). found is false for an item holding neither a
// sequence number nor shard end (a lease alone), and cp is then zero.
func decodeItem(item map[string]types.AttributeValue) (cp sdk.Checkpoint, found bool, err error) {
	cp, found, err = decodeRow(item)
	if err != nil || !found {
		return sdk.Checkpoint{}, false, err
	}
	return cp, true, nil
}

// decodeRow reads an item's position and lease; hasPos is false for an
// item holding neither a sequence number nor shard end. A missing owner is
// "" and a missing lease_counter 0 (seed items have neither).
func decodeRow(item map[string]types.AttributeValue) (cp sdk.Checkpoint, hasPos bool, err error) {
	switch v := item[attrSequence].(type) {
	case nil:
	case *types.AttributeValueMemberS:
		cp.SequenceNumber = v.Value
	case *types.AttributeValueMemberN:
		cp.SequenceNumber = v.Value
	default:
		return cp, false, fmt.Errorf("attribute %s has type %T, want a string", attrSequence, v)
	}
	if cp.SequenceNumber != "" && !sdk.ValidSequence(cp.SequenceNumber) {
		return cp, false, fmt.Errorf("attribute %s = %q is not a sequence number (1 to %d decimal digits)", attrSequence, cp.SequenceNumber, seqDigits)
	}
	if cp.SubSequenceNumber, err = numberAttr(item, attrSubSequence); err != nil {
		return cp, false, err
	}
	if cp.LeaseCounter, err = numberAttr(item, attrLeaseCounter); err != nil {
		return cp, false, err
	}
	switch v := item[attrShardEnd].(type) {
	case nil:
	case *types.AttributeValueMemberBOOL:
		cp.ShardEnd = v.Value
	default:
		return cp, false, fmt.Errorf("attribute %s has type %T, want a boolean", attrShardEnd, v)
	}
	switch v := item[attrOwner].(type) {
	case nil:
	case *types.AttributeValueMemberS:
		cp.Owner = v.Value
	default:
		return cp, false, fmt.Errorf("attribute %s has type %T, want a string", attrOwner, v)
	}
	if cp.SequenceNumber == "" && !cp.ShardEnd {
		cp.SubSequenceNumber = 0
		return cp, false, nil
	}
	return cp, true, nil
}

func numberAttr(item map[string]types.AttributeValue, name string) (int64, error) {
	switch v := item[name].(type) {
	case nil:
		return 0, nil
	case *types.AttributeValueMemberN:
		n, err := strconv.ParseInt(v.Value, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("attribute %s = %q is not an integer", name, v.Value)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("attribute %s has type %T, want a number", name, v)
	}
}
