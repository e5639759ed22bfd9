package kinesisfake

import (
	"encoding/base64"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Shard iterators and ListShards NextTokens are opaque to callers. Inside
// they are "|"-separated fields (stream names can't hold "|"), a checksum so
// that garbage and hand-edited tokens are refused, all in base64.

const (
	iterTag  = "kfi1"
	tokenTag = "kft1"
)

func checksum(payload string) string {
	h := fnv.New64a()
	h.Write([]byte("kinesisfake:"))
	h.Write([]byte(payload))
	return strconv.FormatUint(h.Sum64(), 36)
}

func seal(fields ...string) string {
	payload := strings.Join(fields, "|")
	return base64.StdEncoding.EncodeToString([]byte(payload + "|" + checksum(payload)))
}

// unseal checks a token and returns its fields, or nil.
func unseal(tok, tag string, n int) []string {
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return nil
	}
	s := string(raw)
	cut := strings.LastIndexByte(s, '|')
	if cut < 0 || checksum(s[:cut]) != s[cut+1:] {
		return nil
	}
	fields := strings.Split(s[:cut], "|")
	if len(fields) != n || fields[0] != tag {
		return nil
	}
	return fields
}

// iterator is the decoded form of a shard iterator: read shard of stream
// from record index pos.
type iterator struct {
	instance uint64
	stream   string
	shard    string
	pos      int
	created  time.Time
}

func (it iterator) encode() string {
	return seal(iterTag,
		strconv.FormatUint(it.instance, 10),
		it.stream,
		it.shard,
		strconv.Itoa(it.pos),
		strconv.FormatInt(it.created.UnixNano(), 10))
}

func decodeIterator(s string) (iterator, bool) {
	f := unseal(s, iterTag, 6)
	if f == nil {
		return iterator{}, false
	}
	inst, err1 := strconv.ParseUint(f[1], 10, 64)
	pos, err2 := strconv.Atoi(f[4])
	ns, err3 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || pos < 0 {
		return iterator{}, false
	}
	return iterator{instance: inst, stream: f[2], shard: f[3], pos: pos, created: time.Unix(0, ns)}, true
}

// listToken is the decoded form of a ListShards NextToken: the remaining
// shards of stream that pass the filter and come after lastID.
type listToken struct {
	instance   uint64
	stream     string
	filterType types.ShardFilterType // "" for no filter
	filterTime time.Time             // zero if the filter has none
	lastID     string
	created    time.Time
}

func (t listToken) encode() string {
	ft := "-"
	if !t.filterTime.IsZero() {
		ft = strconv.FormatInt(t.filterTime.UnixNano(), 10)
	}
	return seal(tokenTag,
		strconv.FormatUint(t.instance, 10),
		t.stream,
		string(t.filterType),
		ft,
		t.lastID,
		strconv.FormatInt(t.created.UnixNano(), 10))
}

func decodeListToken(s string) (listToken, bool) {
	f := unseal(s, tokenTag, 7)
	if f == nil {
		return listToken{}, false
	}
	inst, err1 := strconv.ParseUint(f[1], 10, 64)
	ns, err2 := strconv.ParseInt(f[6], 10, 64)
	if err1 != nil || err2 != nil {
		return listToken{}, false
	}
	t := listToken{
		instance:   inst,
		stream:     f[2],
		filterType: types.ShardFilterType(f[3]),
		lastID:     f[5],
		created:    time.Unix(0, ns),
	}
	if f[4] != "-" {
		ftns, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return listToken{}, false
		}
		t.filterTime = time.Unix(0, ftns)
	}
	return t, true
}
