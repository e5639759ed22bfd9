// Package testplugins holds plugins used only by the repository's own
// tests. recorder (built as kinesis-handler-recorder) appends every record
// it is given to a JSON-lines file and can be told to fail, stop, skip,
// hang or crash on chosen records.
package testplugins
