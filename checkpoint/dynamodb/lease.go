package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesis-host/kinesis-host/sdk"
	"github.com/kinesis-host/kinesis-host/shared"
)

// ListLeases implements sdk.LeaseStore: a Query of the stream's partition
// (namespace), page by page (one round trip per 1 MB of items), strongly
// consistent unless consistent_read = false.
func (s *Store) ListLeases(ctx context.Context, app, stream string) ([]sdk.LeaseRow, error) {
	st, err := s.state()
	if err != nil {
		return nil, err
	}
	ctx, cancel := opCtx(ctx)
	defer cancel()
	ns := Namespace(app, stream)
	pages := dynamodb.NewQueryPaginator(st.client, &dynamodb.QueryInput{
		TableName:                 aws.String(st.table),
		KeyConditionExpression:    aws.String("#ns = :ns"),
		ExpressionAttributeNames:  map[string]string{"#ns": attrNamespace},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ns": &types.AttributeValueMemberS{Value: ns}},
		ConsistentRead:            aws.Bool(st.consistent),
	})
	var rows []sdk.LeaseRow
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, st.unavailable("Query", sdk.CheckpointKey{App: app, Stream: stream, ShardID: "*"}, err)
		}
		for _, item := range out.Items {
			id, ok := item[attrShardID].(*types.AttributeValueMemberS)
			if !ok {
				continue // not a row of this store (the sort key is a string)
			}
			cp, hasPos, err := decodeRow(item)
			if err != nil {
				// One unreadable item is reported with its shard; the
				// others are listed.
				rows = append(rows, sdk.LeaseRow{ShardID: id.Value,
					Err: shared.ToWire(st.corrupt(sdk.CheckpointKey{App: app, Stream: stream, ShardID: id.Value}, err))})
				continue
			}
			if hasPos || cp.Owner != "" || cp.LeaseCounter != 0 {
				rows = append(rows, sdk.LeaseRow{ShardID: id.Value, Checkpoint: cp})
			}
		}
	}
	return rows, nil
}

// UpdateLeases implements sdk.LeaseStore: each update is one conditional
// write (see lease), run concurrently, at most 16 at a time, like
// SetBatch. Updates of one item in one batch run in order, one after the
// other.
func (s *Store) UpdateLeases(ctx context.Context, updates []sdk.LeaseUpdate) []error {
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
	// One goroutine per item, which applies that item's updates in order.
	var order [][2]string
	byItem := map[[2]string][]int{}
	for i, u := range updates {
		k := [2]string{Namespace(u.Key.App, u.Key.Stream), u.Key.ShardID}
		if _, ok := byItem[k]; !ok {
			order = append(order, k)
		}
		byItem[k] = append(byItem[k], i)
	}
	sem := make(chan struct{}, batchParallelism)
	var wg sync.WaitGroup
	for _, k := range order {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, i := range byItem[k] {
				errs[i] = st.lease(ctx, updates[i])
			}
		}()
	}
	wg.Wait()
	return errs
}

// lease applies one update. Every write it sends is conditional on the
// stored owner and counter, so it applies only on the row the update
// expects:
//
//   - a delete or a lease without a position is one write;
//   - a lease with a position first tries the write that moves the
//     position (condition: no position stored yet, or an earlier one). If
//     that fails, the item it failed on (returned with the failure by
//     DynamoDB, read with GetItem by emulators that do not) says why: a
//     lease held by someone else is a conflict; otherwise it writes the
//     lease, and the position only if it is forward of the stored one,
//     conditional on the exact stored position (or, for a seed item, its
//     sequence_number).
//
// A rewind is one write conditional on the lease alone (leaseRewind).
//
// Each round that finds the item changed under it starts again, at most
// maxSetAttempts times.
func (st *state) lease(ctx context.Context, u sdk.LeaseUpdate) error {
	var cp *sdk.Checkpoint
	var pos string
	if c := u.Checkpoint; c != nil && !u.Delete && (c.SequenceNumber != "" || c.ShardEnd) {
		var err error
		if pos, err = position(*c); err != nil {
			return fmt.Errorf("lease update of %s/%s not applied: %w", u.Key.Stream, u.Key.ShardID, err)
		}
		cp = c
	}
	var err error
	switch {
	case u.Delete:
		err = st.leaseDelete(ctx, u)
	case u.Rewind:
		err = st.leaseRewind(ctx, u, cp, pos)
	case cp == nil:
		err = st.leaseWrite(ctx, u, nil, "", "", nil)
	default:
		err = st.leaseWrite(ctx, u, cp, pos, "(attribute_not_exists(#pos) AND attribute_not_exists(#seq)) OR #pos < :pos", nil)
	}
	for attempt := 1; ; attempt++ {
		if err == nil || !isConditionFailed(err) {
			return err
		}
		if attempt == maxSetAttempts {
			return sdk.Unavailable(fmt.Errorf("dynamodb lease of %s/%s in table %q: item kept changing under %d conditional writes; will retry",
				u.Key.Stream, u.Key.ShardID, st.table, maxSetAttempts))
		}
		item := failedItem(err)
		if item == nil {
			if item, err = st.getItem(ctx, u.Key, true); err != nil {
				return err
			}
		}
		if err := st.leaseHeld(u, item); err != nil {
			return err
		}
		// The lease is the expected one: the position failed the write,
		// or the item changed in between.
		switch {
		case u.Delete:
			err = st.leaseDelete(ctx, u)
		case u.Rewind:
			err = st.leaseRewind(ctx, u, cp, pos)
		case cp == nil:
			err = st.leaseWrite(ctx, u, nil, "", "", nil)
		default:
			guard, values, gerr := positionGuard(item)
			old, _, derr := decodeRow(item)
			if gerr = errors.Join(gerr, derr); gerr != nil {
				return st.corrupt(u.Key, gerr)
			}
			if sdk.ComparePosition(old, *cp) < 0 {
				err = st.leaseWrite(ctx, u, cp, pos, guard, values)
			} else {
				err = st.leaseWrite(ctx, u, nil, "", guard, values)
			}
		}
	}
}

// leaseHeld returns a conflict unless item (nil: no item) holds the lease
// u expects.
func (st *state) leaseHeld(u sdk.LeaseUpdate, item map[string]types.AttributeValue) error {
	stored, _, err := decodeRow(item)
	if err != nil {
		return st.corrupt(u.Key, err)
	}
	if stored.Owner != u.ExpectOwner || stored.LeaseCounter != u.ExpectCounter {
		return sdk.Conflict("lease of %s/%s is held by %q at counter %d, not %q at %d (another host took or renewed it)",
			u.Key.Stream, u.Key.ShardID, stored.Owner, stored.LeaseCounter, u.ExpectOwner, u.ExpectCounter)
	}
	return nil
}

// failedItem is the item a failed condition was evaluated on, when
// DynamoDB returned it (ReturnValuesOnConditionCheckFailure).
func failedItem(err error) map[string]types.AttributeValue {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && len(ccf.Item) > 0 {
		return ccf.Item
	}
	return nil
}

// positionGuard is the condition that item's position (or its absence)
// is still stored.
func positionGuard(item map[string]types.AttributeValue) (string, map[string]types.AttributeValue, error) {
	if av, ok := item[attrPosition]; ok {
		if _, ok := av.(*types.AttributeValueMemberS); !ok {
			return "", nil, fmt.Errorf("attribute %s is not a string", attrPosition)
		}
		return "#pos = :oldpos", map[string]types.AttributeValue{":oldpos": av}, nil
	}
	if av, ok := item[attrSequence]; ok {
		return "attribute_not_exists(#pos) AND #seq = :oldseq", map[string]types.AttributeValue{":oldseq": av}, nil
	}
	return "attribute_not_exists(#pos) AND attribute_not_exists(#seq)", nil, nil
}

// leaseCondition is the condition on the stored owner and counter: a
// missing owner is "" and a missing lease_counter 0.
func leaseCondition(names map[string]string, values map[string]types.AttributeValue, owner string, counter int64) string {
	names["#own"], names["#lc"] = attrOwner, attrLeaseCounter
	var c string
	if owner == "" {
		values[":zero"] = &types.AttributeValueMemberN{Value: "0"}
		c = "(attribute_not_exists(#own) OR size(#own) = :zero)"
	} else {
		values[":eown"] = &types.AttributeValueMemberS{Value: owner}
		c = "#own = :eown"
	}
	values[":ecnt"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(counter, 10)}
	if counter == 0 {
		return c + " AND (attribute_not_exists(#lc) OR #lc = :ecnt)"
	}
	return c + " AND #lc = :ecnt"
}

// leaseWrite is one UpdateItem: owner and counter+1, cp's position when cp
// is set, on the condition of u's expected lease and cond (with its extra
// values) on the position.
func (st *state) leaseWrite(ctx context.Context, u sdk.LeaseUpdate, cp *sdk.Checkpoint, pos, cond string, condValues map[string]types.AttributeValue) error {
	names := map[string]string{}
	values := map[string]types.AttributeValue{
		":lc": &types.AttributeValueMemberN{Value: strconv.FormatInt(u.ExpectCounter+1, 10)},
	}
	condition := leaseCondition(names, values, u.ExpectOwner, u.ExpectCounter)
	if cond != "" {
		condition += " AND (" + cond + ")"
		names["#pos"], names["#seq"] = attrPosition, attrSequence
		for k, v := range condValues {
			values[k] = v
		}
	}
	sets := []string{"#lc = :lc"}
	var removes []string
	if u.Owner != "" {
		values[":own"] = &types.AttributeValueMemberS{Value: u.Owner}
		sets = append(sets, "#own = :own")
	} else {
		removes = append(removes, "#own")
	}
	if cp != nil {
		sets = append(sets, positionSets(names, values, *cp, pos)...)
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	prune(names, values, expr+" "+condition)
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(st.table),
		Key:                                 itemKey(u.Key),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(condition),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil || isConditionFailed(err) {
		return err
	}
	return st.unavailable("UpdateItem", u.Key, err)
}

// leaseRewind is one UpdateItem on the condition of u's expected lease:
// owner and counter+1, and the position set exactly to cp's (pos its
// sortable form), or removed when cp is nil. The seed's sequence_number
// follows: set to cp's, or removed with sub_sequence_number when cp has
// none (a clear, or ShardEnd without a sequence number).
func (st *state) leaseRewind(ctx context.Context, u sdk.LeaseUpdate, cp *sdk.Checkpoint, pos string) error {
	names := map[string]string{}
	values := map[string]types.AttributeValue{
		":lc": &types.AttributeValueMemberN{Value: strconv.FormatInt(u.ExpectCounter+1, 10)},
	}
	condition := leaseCondition(names, values, u.ExpectOwner, u.ExpectCounter)
	sets := []string{"#lc = :lc"}
	var removes []string
	if u.Owner != "" {
		values[":own"] = &types.AttributeValueMemberS{Value: u.Owner}
		sets = append(sets, "#own = :own")
	} else {
		removes = append(removes, "#own")
	}
	names["#pos"], names["#end"], names["#seq"], names["#sub"] = attrPosition, attrShardEnd, attrSequence, attrSubSequence
	switch {
	case cp == nil:
		removes = append(removes, "#pos", "#end", "#seq", "#sub")
	default:
		sets = append(sets, positionSets(names, values, *cp, pos)...)
		if cp.SequenceNumber == "" {
			removes = append(removes, "#seq", "#sub")
		}
	}
	expr := "SET " + strings.Join(sets, ", ")
	if len(removes) > 0 {
		expr += " REMOVE " + strings.Join(removes, ", ")
	}
	prune(names, values, expr+" "+condition)
	_, err := st.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(st.table),
		Key:                                 itemKey(u.Key),
		UpdateExpression:                    aws.String(expr),
		ConditionExpression:                 aws.String(condition),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil || isConditionFailed(err) {
		return err
	}
	return st.unavailable("UpdateItem", u.Key, err)
}

// prune drops the names and values that expr does not use (DynamoDB
// rejects unused ones).
func prune(names map[string]string, values map[string]types.AttributeValue, expr string) {
	used := map[string]bool{}
	for _, tok := range placeholder.FindAllString(expr, -1) {
		used[tok] = true
	}
	for k := range names {
		if !used[k] {
			delete(names, k)
		}
	}
	for k := range values {
		if !used[k] {
			delete(values, k)
		}
	}
}

var placeholder = regexp.MustCompile(`[#:][A-Za-z0-9_]+`)

// leaseDelete is one DeleteItem on the condition of u's expected lease.
func (st *state) leaseDelete(ctx context.Context, u sdk.LeaseUpdate) error {
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	condition := leaseCondition(names, values, u.ExpectOwner, u.ExpectCounter)
	_, err := st.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                           aws.String(st.table),
		Key:                                 itemKey(u.Key),
		ConditionExpression:                 aws.String(condition),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil || isConditionFailed(err) {
		return err
	}
	return st.unavailable("DeleteItem", u.Key, err)
}
