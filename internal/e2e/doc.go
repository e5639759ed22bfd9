// Package e2e holds the end-to-end tests: they build the real binaries
// (kinesis-host, the recorder test handler, the checkpoint plugins), run
// kinesis-host as a process against a real kinesalite, and check what the
// recorder plugin saw and what the file checkpoint store holds afterwards.
//
// The tests are in the _test.go files; this package has no other code.
package e2e
