package host

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"

	"github.com/golang/protobuf/proto"

	rec "github.com/awslabs/kinesis-aggregation/go/v2/records"

	"github.com/kinesis-host/kinesis-host/shared"
)

// kplMagic starts every KPL aggregated record; an MD5 digest of the
// protobuf body ends it.
var kplMagic = []byte{0xF3, 0x89, 0x9A, 0xC2}

const kplDigestLen = md5.Size

// unpacked is one record after de-aggregation: a user record (possibly one
// of several sharing a Kinesis sequence number, told apart by
// SubSequenceNumber), or a corrupt aggregate kept whole with the reason.
type unpacked struct {
	rec     shared.Record
	corrupt error
}

// deaggregate expands KPL aggregated records into their user records, in
// order, with SubSequenceNumber = the user record's index in its aggregate.
// Plain records pass through unchanged. A record that carries the KPL magic
// but whose digest or protobuf body is wrong is returned whole with
// corrupt set: it is reported through the stream's failure policy, never
// dropped silently or passed off as user data.
//
// Unlike the awslabs deaggregator, one bad aggregate does not fail the
// whole page, an out-of-range partition-key index cannot panic, and a
// digest mismatch is not silently treated as a plain record.
func deaggregate(in []shared.Record) []unpacked {
	out := make([]unpacked, 0, len(in))
	for _, r := range in {
		if len(r.Data) < len(kplMagic) || !bytes.Equal(r.Data[:len(kplMagic)], kplMagic) {
			out = append(out, unpacked{rec: r})
			continue
		}
		users, err := unpackAggregate(r)
		if err != nil {
			out = append(out, unpacked{rec: r, corrupt: err})
			continue
		}
		for _, u := range users {
			out = append(out, unpacked{rec: u})
		}
	}
	return out
}

func unpackAggregate(r shared.Record) ([]shared.Record, error) {
	body := r.Data[len(kplMagic):]
	if len(body) <= kplDigestLen {
		return nil, errors.New("KPL aggregate too short")
	}
	msg, digest := body[:len(body)-kplDigestLen], body[len(body)-kplDigestLen:]
	if sum := md5.Sum(msg); !bytes.Equal(sum[:], digest) {
		return nil, errors.New("KPL aggregate digest mismatch")
	}
	var agg rec.AggregatedRecord
	if err := proto.Unmarshal(msg, &agg); err != nil {
		return nil, fmt.Errorf("KPL aggregate body: %v", err)
	}
	out := make([]shared.Record, 0, len(agg.Records))
	for i, u := range agg.Records {
		if u.PartitionKeyIndex == nil || *u.PartitionKeyIndex >= uint64(len(agg.PartitionKeyTable)) {
			return nil, fmt.Errorf("KPL aggregate user record %d: partition key index out of range", i)
		}
		out = append(out, shared.Record{
			Data:                        u.Data,
			PartitionKey:                agg.PartitionKeyTable[*u.PartitionKeyIndex],
			SequenceNumber:              r.SequenceNumber,
			SubSequenceNumber:           int64(i),
			ApproximateArrivalTimestamp: r.ApproximateArrivalTimestamp,
		})
	}
	if len(out) == 0 {
		return nil, errors.New("KPL aggregate holds no user records")
	}
	return out, nil
}

// Aggregate builds a KPL aggregated record from user records (data and
// partition key), as the KPL does. It exists for tests and tools that need
// aggregated input; the awslabs module this host uses ships only the
// de-aggregation side.
func Aggregate(keys []string, data [][]byte) []byte {
	agg := &rec.AggregatedRecord{}
	index := map[string]uint64{}
	for i, k := range keys {
		idx, ok := index[k]
		if !ok {
			idx = uint64(len(agg.PartitionKeyTable))
			index[k] = idx
			agg.PartitionKeyTable = append(agg.PartitionKeyTable, k)
		}
		agg.Records = append(agg.Records, &rec.Record{PartitionKeyIndex: proto.Uint64(idx), Data: data[i]})
	}
	msg, err := proto.Marshal(agg)
	if err != nil {
		panic(err) // cannot happen for this message
	}
	sum := md5.Sum(msg)
	out := append(append(append([]byte{}, kplMagic...), msg...), sum[:]...)
	return out
}
