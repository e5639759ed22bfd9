package host

// The kinesis {} block and stream blocks.

import (
	"net/url"

	"github.com/hashicorp/hcl/v2"
)

func (l *configLoader) kinesis(k *KinesisConfig, b *hcl.Block) {
	c := l.content(b.Body, cfgKinesisSchema)
	k.Range = b.DefRange
	if v, st := l.str(c.attrs["region"]); st == cfgSet {
		k.Region = v
	}
	if v, st := l.str(c.attrs["endpoint"]); st == cfgSet && v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.errorf(c.attrs["endpoint"].Range, "Invalid endpoint",
				"endpoint must be an http:// or https:// URL with a host, such as \"http://127.0.0.1:4567\"; got %q. Remove it to use the AWS default endpoint.", v)
		} else {
			k.Endpoint = v
		}
	}
	keyAttr, secretAttr, tokenAttr := c.attrs["access_key_id"], c.attrs["secret_access_key"], c.attrs["session_token"]
	key, keySt := l.str(keyAttr)
	secret, secretSt := l.str(secretAttr)
	token, tokenSt := l.str(tokenAttr)
	if keySt == cfgInvalid || secretSt == cfgInvalid || tokenSt == cfgInvalid {
		return
	}
	switch {
	case key != "" && secret == "":
		l.errorf(keyAttr.Range, "Missing secret_access_key",
			"access_key_id is set but secret_access_key is not; static credentials need both. Set secret_access_key, or remove access_key_id to use the default AWS credential chain.")
	case key == "" && secret != "":
		l.errorf(secretAttr.Range, "Missing access_key_id",
			"secret_access_key is set but access_key_id is not; static credentials need both. Set access_key_id, or remove secret_access_key to use the default AWS credential chain.")
	case token != "" && key == "":
		l.errorf(tokenAttr.Range, "Missing access keys",
			"session_token is only used with static credentials; set access_key_id and secret_access_key too, or remove session_token.")
	default:
		k.AccessKeyID, k.SecretAccessKey, k.SessionToken = key, secret, token
	}
}

func (l *configLoader) stream(b *hcl.Block) *StreamConfig {
	c := l.content(b.Body, cfgStreamSchema)
	s := cfgNewStream(b.Labels[0])
	s.DefRange, s.HandlerRange, s.CheckpointRange = b.DefRange, b.DefRange, b.DefRange

	if !cfgStreamNameRE.MatchString(s.Name) {
		rng := b.DefRange
		if len(b.LabelRanges) > 0 {
			rng = b.LabelRanges[0]
		}
		l.errorf(rng, "Invalid stream name",
			"The stream label is the Kinesis stream name: 1 to 128 letters, digits, \"_\", \".\" or \"-\"; got %q.", s.Name)
	}
	switch h, st := l.str(c.attrs["handler"]); st {
	case cfgUnset:
		l.errorf(b.DefRange, "Missing handler",
			"Stream %q needs handler = \"<label>\", naming the handler block that processes its records.", s.Name)
	case cfgSet:
		s.Handler, s.HandlerRange = h, c.attrs["handler"].Range
		if h == "" {
			l.errorf(s.HandlerRange, "Missing handler",
				"Stream %q has an empty handler; set it to the label of the handler block that processes its records.", s.Name)
		}
	}
	if cp, st := l.str(c.attrs["checkpoint"]); st == cfgSet {
		s.CheckpointRange = c.attrs["checkpoint"].Range
		if cp != "" {
			s.Checkpoint = cp
		}
	}

	posAttr, tsAttr := c.attrs["start_position"], c.attrs["start_timestamp"]
	pos, posSt := l.enum(posAttr, cfgStartPositions)
	if posSt == cfgSet {
		s.StartPosition = pos
	}
	switch {
	case posSt != cfgInvalid && s.StartPosition != StartAtTimestamp:
		// start_timestamp must be absent; report that rather than its format.
		if _, st := l.str(tsAttr); st == cfgSet {
			l.errorf(tsAttr.Range, "Unexpected start_timestamp",
				"start_timestamp is only used with start_position = %q (start_position is %q); remove start_timestamp or set start_position = %q.",
				StartAtTimestamp, s.StartPosition, StartAtTimestamp)
		}
	default:
		ts, tsSt := l.timestamp(tsAttr)
		switch {
		case tsSt == cfgSet:
			s.StartTimestamp = ts
		case tsSt == cfgUnset && posSt == cfgSet:
			l.errorf(posAttr.Range, "Missing start_timestamp",
				"start_position = %q needs start_timestamp, an RFC 3339 time such as \"2024-05-01T12:00:00Z\".", StartAtTimestamp)
		}
	}

	if n, st := l.integer(c.attrs["max_records"], 1, cfgMaxRecordsMax); st == cfgSet {
		s.MaxRecords = int32(n)
	}
	if n, st := l.integer(c.attrs["batch_max_records"], 1, cfgBatchMaxRecordsMax); st == cfgSet {
		s.BatchMaxRecords = int(n)
	}
	if n, st := l.size(c.attrs["batch_max_bytes"], cfgBatchMaxBytesMin, cfgBatchMaxBytesMax); st == cfgSet {
		s.BatchMaxBytes = n
	}
	if d, st := l.duration(c.attrs["poll_interval"], cfgPollIntervalMin,
		" (Kinesis allows 5 GetRecords calls per second per shard)"); st == cfgSet {
		s.PollInterval = d
	}
	if d, st := l.duration(c.attrs["shard_sync_interval"], cfgShardSyncMin, ""); st == cfgSet {
		s.ShardSyncInterval = d
	}
	if v, st := l.enum(c.attrs["consumer"], cfgConsumers); st == cfgSet {
		s.Consumer = v
	}
	if v, st := l.str(c.attrs["consumer_name"]); st == cfgSet {
		if !cfgConsumerNameRE.MatchString(v) {
			l.errorf(c.attrs["consumer_name"].Range, "Invalid consumer_name",
				"consumer_name must be 1 to 128 letters, digits, \"_\", \".\" or \"-\"; got %q.", v)
		} else {
			s.ConsumerName = v
		}
	}
	if v, st := l.boolean(c.attrs["deaggregate"]); st == cfgSet {
		s.Deaggregate = v
	}
	if v, st := l.enum(c.attrs["on_expired_checkpoint"], cfgOnExpiredCheckpoint); st == cfgSet {
		s.OnExpiredCheckpoint = v
	}
	return s
}
