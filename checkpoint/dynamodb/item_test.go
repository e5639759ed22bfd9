package dynamodb

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/sdk"
)

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

// TestPositionOrder: byte order of positions is sdk.ComparePosition order.
func TestPositionOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randCP := func() sdk.Checkpoint {
		if r.IntN(10) == 0 {
			return sdk.Checkpoint{ShardEnd: true, SequenceNumber: fmt.Sprint(r.IntN(1000))}
		}
		n := 1 + r.IntN(128)
		if r.IntN(3) == 0 {
			n = 1 + r.IntN(3) // many short numbers, so equal lengths and values occur
		}
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteByte(byte('0' + r.IntN(10)))
		}
		sub := int64(r.IntN(3))
		if r.IntN(5) == 0 {
			sub = r.Int64()
		}
		return sdk.Checkpoint{SequenceNumber: b.String(), SubSequenceNumber: sub}
	}
	fixed := []sdk.Checkpoint{
		{SequenceNumber: "9"}, {SequenceNumber: "10"}, {SequenceNumber: "009"}, {SequenceNumber: "0"},
		{SequenceNumber: strings.Repeat("9", 128), SubSequenceNumber: 1<<63 - 1}, {SequenceNumber: "1" + strings.Repeat("0", 127)},
		{ShardEnd: true}, {SequenceNumber: "5", SubSequenceNumber: 10}, {SequenceNumber: "5", SubSequenceNumber: 9},
	}
	cps := append([]sdk.Checkpoint(nil), fixed...)
	for i := 0; i < 3000; i++ {
		cps = append(cps, randCP())
	}
	for i := 0; i < len(cps); i++ {
		a := cps[i]
		pa, err := position(a)
		if err != nil {
			t.Fatal(a, err)
		}
		for _, j := range []int{(i + 1) % len(cps), r.IntN(len(cps)), i} {
			b := cps[j]
			pb, _ := position(b)
			if got, want := strings.Compare(pa, pb), sdk.ComparePosition(a, b); got != sign(want) {
				t.Fatalf("%+v vs %+v: positions compare %d, ComparePosition %d\n%s\n%s", a, b, got, want, pa, pb)
			}
		}
	}
}

func TestDecodeSeedItem(t *testing.T) {
	item := map[string]types.AttributeValue{
		"namespace":       &types.AttributeValueMemberS{Value: "app-stream"},
		"shard_id":        &types.AttributeValueMemberS{Value: "shardId-000000000000"},
		"sequence_number": &types.AttributeValueMemberS{Value: "49590338271490256608559692538361571095921575989136588898"},
	}
	cp, found, err := decodeItem(item)
	if err != nil || !found || cp != (sdk.Checkpoint{SequenceNumber: "49590338271490256608559692538361571095921575989136588898"}) {
		t.Fatalf("decodeItem = %+v, %v, %v", cp, found, err)
	}
	// A number-typed sequence_number is read too.
	item["sequence_number"] = &types.AttributeValueMemberN{Value: "42"}
	if cp, found, err := decodeItem(item); err != nil || !found || cp.SequenceNumber != "42" {
		t.Fatalf("decodeItem(N) = %+v, %v, %v", cp, found, err)
	}
	// An item with neither a sequence number nor shard end is no checkpoint.
	delete(item, "sequence_number")
	if _, found, err := decodeItem(item); err != nil || found {
		t.Fatalf("decodeItem(empty) = %v, %v", found, err)
	}
	for name, av := range map[string]types.AttributeValue{
		"sequence_number":     &types.AttributeValueMemberBOOL{Value: true},
		"sub_sequence_number": &types.AttributeValueMemberS{Value: "1"},
		"lease_counter":       &types.AttributeValueMemberN{Value: "1.5"},
		"shard_end":           &types.AttributeValueMemberS{Value: "true"},
		"owner":               &types.AttributeValueMemberN{Value: "1"},
	} {
		bad := map[string]types.AttributeValue{"sequence_number": &types.AttributeValueMemberS{Value: "1"}, name: av}
		if _, _, err := decodeItem(bad); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("decodeItem with bad %s: err = %v", name, err)
		}
	}
}
